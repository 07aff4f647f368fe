"""The prioritized-path board of Cream.

The board lives in fixed-capacity buffers, so that it is part of the search
model's state dict: every mmengine checkpoint holds it, a resumed search
starts with it intact, and every rank, fed the same all-reduced numbers,
keeps the same one. (The official board is a Python list, lost on restart.)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PrioritizedBoard(nn.Module):
    """Best paths seen so far, sorted by prec@1 (best first).

    Each entry keeps the path's prec@1, FLOPs and parameters, the path, a
    slice of the batch it was scored on, the soft output on that slice and the
    iteration at which it entered.
    """

    def __init__(self, pool_size: int, num_layers: int, slice_size: int,
                 input_shape: tuple, num_classes: int, acc_gap: float = 5.):
        super().__init__()
        self.pool_size = pool_size
        self.acc_gap = acc_gap
        self.register_buffer('size', torch.zeros((), dtype=torch.long))
        self.register_buffer('prec1', torch.zeros(pool_size))
        self.register_buffer('flops', torch.zeros(pool_size, dtype=torch.long))
        self.register_buffer('params', torch.zeros(pool_size, dtype=torch.long))
        self.register_buffer('paths', torch.zeros(pool_size, num_layers, dtype=torch.long))
        self.register_buffer('entered_at', torch.zeros(pool_size, dtype=torch.long))
        self.register_buffer('inputs', torch.zeros(pool_size, slice_size, *input_shape))
        self.register_buffer('soft_outputs', torch.zeros(pool_size, slice_size, num_classes))

    def __len__(self) -> int:
        return int(self.size)

    def should_insert(self, prec1: float, flops: int) -> bool:
        """The official rule: room left, or clearly better than the worst
        entry, or better and cheaper."""
        n = len(self)
        if n < self.pool_size:
            return True
        worst_prec1, worst_flops = float(self.prec1[n - 1]), int(self.flops[n - 1])
        return prec1 > worst_prec1 + self.acc_gap or (prec1 > worst_prec1 and flops < worst_flops)

    @torch.no_grad()
    def insert(self, prec1: float, flops: int, params: int, path: torch.Tensor,
               inputs: torch.Tensor, logits: torch.Tensor, iteration: int) -> bool:
        """Insert if the rule allows; keep the board sorted and capped."""
        if not self.should_insert(prec1, flops):
            return False
        n = len(self)
        # Position: after every entry with higher prec@1 (ties: the older first).
        pos = int((self.prec1[:n] >= prec1).sum())
        last = min(n, self.pool_size - 1)
        for name in ('prec1', 'flops', 'params', 'paths', 'entered_at', 'inputs', 'soft_outputs'):
            buf = getattr(self, name)
            buf[pos + 1:last + 1] = buf[pos:last].clone()
        self.prec1[pos] = prec1
        self.flops[pos] = flops
        self.params[pos] = params
        self.paths[pos] = path
        self.entered_at[pos] = iteration
        self.inputs[pos] = inputs
        self.soft_outputs[pos] = F.softmax(logits.float(), dim=1)
        self.size.fill_(min(n + 1, self.pool_size))
        return True

    def entries(self) -> list[dict]:
        """The board as plain data, best first (for board.json and logs)."""
        return [dict(prec1=float(self.prec1[i]), flops=int(self.flops[i]),
                     params=int(self.params[i]), path=self.paths[i].tolist(),
                     entered_at=int(self.entered_at[i])) for i in range(len(self))]
