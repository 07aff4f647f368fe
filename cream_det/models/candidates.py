"""The candidates of one searchable layer, and how their weights are shared.

``independent`` (the official supernet): every op has its own block.
``entangled`` (AutoFormer, once-for-all): one block of the largest op holds
the weights of all; op (k, e) runs the centre k x k of its depthwise kernels
and the first e/e_max of its expanded channels (BN and SE sliced alike).
DEVIATION: not in the official Cream; on the embedded space independent
candidates stay near chance for hundreds of iterations
(docs/en/advanced_guides/entangled_weights.md), entangled ones learn almost
as fast as one path.

Both take ``(x, op)`` and hand out one op's weights under the key names of
its timm block, which is what a :class:`CreamNet` child holds.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models._efficientnet_blocks import InvertedResidual

from ..errors import ConfigError
from ..space import parse_op
from .batch_norm import bn_act


class IndependentCandidates(nn.ModuleList):
    """``self[op]`` is op's block, as in the official supernet."""

    def __init__(self, blocks: list[nn.Module], ops: tuple[str, ...] = ()):
        super().__init__(blocks)

    def forward(self, x: torch.Tensor, op: int) -> torch.Tensor:
        return self[op](x)

    def op_module(self, op: int) -> nn.Module:
        """What a path through this op runs (and trains)."""
        return self[op]

    def op_state(self, op: int) -> dict:
        return self[op].state_dict()

    def op_params(self, op: int) -> int:
        return sum(p.numel() for p in self[op].parameters())


class EntangledCandidates(nn.Module):
    """One block of the largest op (``self.block``) whose slices are every op."""

    def __init__(self, blocks: list[nn.Module], ops: tuple[str, ...]):
        super().__init__()
        kernels, expansions = zip(*(parse_op(op) for op in ops))
        largest = (max(kernels), max(expansions))
        if largest not in list(zip(kernels, expansions)):
            raise ConfigError(f'entangled weights need an op with the largest kernel and the '
                              f'largest expansion (k{largest[0]}e{largest[1]}); ops are {ops}')
        self.largest = list(zip(kernels, expansions)).index(largest)
        self.block = blocks[self.largest]
        if not isinstance(self.block, InvertedResidual):
            raise ConfigError(f'entangled weights are for inverted residual blocks, got '
                              f'{type(self.block).__name__}')
        # Where each op's tensors lie in the largest block's: worked out once,
        # from the shapes its own block would have, not on every forward.
        full = self.block.state_dict()
        self._index = [{name: _slices(name, full[name].shape, tensor.shape)
                        for name, tensor in b.state_dict().items()} for b in blocks]
        self._params = [sum(p.numel() for p in b.parameters()) for b in blocks]

    def forward(self, x: torch.Tensor, op: int) -> torch.Tensor:
        """timm's ``InvertedResidual.forward`` on op's slices (torch.func's
        functional_call would do it on a template, but not under the jit
        trace that FLOPs are counted with)."""
        b = self.block
        if op == self.largest:
            return b(x)
        w = self.op_state(op, keep_vars=True)
        shortcut = x
        x = _bn_act(b.bn1, F.conv2d(x, w['conv_pw.weight']), w, 'bn1.')
        dw = w['conv_dw.weight']
        stride = b.conv_dw.stride[0]
        x = F.conv2d(x, dw, stride=stride, padding=(stride - 1 + dw.shape[-1] - 1) // 2,
                     groups=dw.shape[0])
        x = b.aa(_bn_act(b.bn2, x, w, 'bn2.'))
        se = F.conv2d(x.mean((2, 3), keepdim=True), w['se.conv_reduce.weight'],
                      w['se.conv_reduce.bias'])
        se = F.conv2d(b.se.act1(se), w['se.conv_expand.weight'], w['se.conv_expand.bias'])
        x = x * b.se.gate(se)
        x = _bn_act(b.bn3, F.conv2d(x, w['conv_pwl.weight']), w, 'bn3.')
        return b.drop_path(x) + shortcut if b.has_skip else x

    def op_module(self, op: int) -> nn.Module:
        return self

    def op_state(self, op: int, keep_vars: bool = False) -> dict:
        """Op's slices of the shared tensors, under its own block's key names."""
        index = self._index[op]
        return {name: tensor[index[name]] if index[name] else tensor
                for name, tensor in self.block.state_dict(keep_vars=keep_vars).items()}

    def op_params(self, op: int) -> int:
        return self._params[op]


def _bn_act(bn: nn.Module, x: torch.Tensor, w: dict, prefix: str) -> torch.Tensor:
    """timm's BatchNormAct2d on sliced tensors; the running statistics are
    views, updated in place."""
    return bn_act(bn, x, w[prefix + 'weight'], w[prefix + 'bias'], w[prefix + 'running_mean'],
                  w[prefix + 'running_var'])


def _slices(name: str, full: tuple, shape: tuple) -> tuple:
    """The first ``shape`` entries of a ``full`` tensor; a depthwise kernel's centre."""
    return tuple(slice((f - n) // 2, (f - n) // 2 + n)
                 if name.endswith('conv_dw.weight') and dim >= 2 else slice(0, n)
                 for dim, (f, n) in enumerate(zip(full, shape)))


CANDIDATES = dict(independent=IndependentCandidates, entangled=EntangledCandidates)
