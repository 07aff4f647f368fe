"""The prioritized-path board of Cream.

The board lives in fixed-capacity buffers, so that it is part of the search
model's state dict: every mmengine checkpoint holds it, a resumed search
starts with it intact, and every rank, fed the same all-reduced numbers,
keeps the same one.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..arch import Arch, OpPath, flatten_path, split_path
from ..space import SearchSpace


class PrioritizedBoard(nn.Module):
    """Best paths seen so far, sorted by score (best first).

    Each entry keeps the path's score, FLOPs and parameters, the path, a
    slice of the batch it was scored on, the soft output on that slice and the
    iteration at which it entered. The score is whatever the search declares
    (``PathSearch.board_score``; higher is better): training prec@1 in the
    official search. With ``slice_size=0`` it keeps no slice (a top1 teacher
    needs none). Paths go in and
    come out in the supernet's form (:data:`~cream_det.arch.OpPath`), and as
    an :class:`Arch`; the flat rows of the buffer stay inside.

    DEVIATION: the official board is a Python list, lost on restart.
    """

    def __init__(self, pool_size: int, space: SearchSpace, depths: Sequence[int],
                 resolution: int, slice_size: int, num_classes: int, acc_gap: float = 5.):
        super().__init__()
        self.pool_size = pool_size
        self.acc_gap = acc_gap
        self.space, self.depths, self.resolution = space, list(depths), resolution
        self.register_buffer('size', torch.zeros((), dtype=torch.long))
        self.register_buffer('score', torch.zeros(pool_size))
        self.register_buffer('flops', torch.zeros(pool_size, dtype=torch.long))
        self.register_buffer('params', torch.zeros(pool_size, dtype=torch.long))
        self.register_buffer('paths', torch.zeros(pool_size, sum(depths), dtype=torch.long))
        self.register_buffer('entered_at', torch.zeros(pool_size, dtype=torch.long))
        self.register_buffer('inputs',
                             torch.zeros(pool_size, slice_size, 3, resolution, resolution))
        self.register_buffer('soft_outputs', torch.zeros(pool_size, slice_size, num_classes))

    def __len__(self) -> int:
        return int(self.size)

    @staticmethod
    def upgrade(state: dict, prefix: str = '') -> dict:
        """``state`` (changed in place) with a board saved before its score
        was named ``score`` under the current key: it was ``prec1`` (minus
        the loss in a detection search: the same values)."""
        if prefix + 'prec1' in state and prefix + 'score' not in state:
            state[prefix + 'score'] = state.pop(prefix + 'prec1')
        return state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # mmengine's resume and init_cfg load through here, not load_weights.
        self.upgrade(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def should_insert(self, score: float, flops: int) -> bool:
        """The official rule: room left, or clearly better than the worst
        entry (by ``acc_gap``), or better and cheaper."""
        n = len(self)
        if n < self.pool_size:
            return True
        worst_score, worst_flops = float(self.score[n - 1]), int(self.flops[n - 1])
        return score > worst_score + self.acc_gap or (score > worst_score and flops < worst_flops)

    @torch.no_grad()
    def insert(self, score: float, flops: int, params: int, path: OpPath,
               inputs: Optional[torch.Tensor], logits: Optional[torch.Tensor],
               iteration: int) -> bool:
        """Insert if the rule allows; keep the board sorted and capped."""
        if not self.should_insert(score, flops):
            return False
        n = len(self)
        # Position: after every entry with a higher score (ties: the older first).
        pos = int((self.score[:n] >= score).sum())
        last = min(n, self.pool_size - 1)
        for name in ('score', 'flops', 'params', 'paths', 'entered_at', 'inputs', 'soft_outputs'):
            buf = getattr(self, name)
            buf[pos + 1:last + 1] = buf[pos:last].clone()
        self.score[pos] = score
        self.flops[pos] = flops
        self.params[pos] = params
        self.paths[pos] = torch.tensor(flatten_path(path))
        self.entered_at[pos] = iteration
        if inputs is not None:
            self.inputs[pos] = inputs
            self.soft_outputs[pos] = F.softmax(logits.float(), dim=1)
        self.size.fill_(min(n + 1, self.pool_size))
        return True

    def path(self, i: int) -> OpPath:
        return split_path(self.paths[i].tolist(), self.depths)

    def arch(self, i: int) -> Arch:
        return Arch.from_path(self.space, self.path(i), self.resolution)

    def op_frequencies(self) -> torch.Tensor:
        """How often each op appears in the board's paths, as probabilities."""
        counts = torch.bincount(self.paths[:len(self)].flatten().cpu(),
                                minlength=len(self.space.ops)).double()
        return counts / counts.sum()

    def entries(self) -> list[dict]:
        """The board as plain data, best first (for board.json and logs)."""
        return [dict(score=float(self.score[i]), flops=int(self.flops[i]),
                     params=int(self.params[i]), path=self.path(i), arch=str(self.arch(i)),
                     entered_at=int(self.entered_at[i])) for i in range(len(self))]
