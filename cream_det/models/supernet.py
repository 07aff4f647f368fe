"""CreamSuperNet: every candidate op of every searchable layer, weights shared
by all paths; a path runs one op per layer."""
from __future__ import annotations

import re
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS

from ..arch import Arch
from ..space import SearchSpace, build_space
from .common import CreamBase, build_blocks
from .cream_net import CreamNet

Path = Sequence[Sequence[int]]  # op index per layer per searchable stage

_BLOCK_KEY = re.compile(r'^blocks\.(\d+)\.(\d+)\.(.*)$')


@MODELS.register_module()
class CreamSuperNet(CreamBase):
    """Args:
        space: a registered space name, a dict declaring a space, or a space.
        budget: (min, max) MFLOPs; the space's budget rule gives the depths
            and resolution (the official rule for ``'cream'``).
        depths: explicit layers per searchable stage instead of a budget.
        resolution: the input size of the search, if not the one that the
            budget rule (or the space's default) gives.
        num_classes, drop_rate: the classifier, as for :class:`CreamNet`.

    ``blocks[stage][layer][op]`` is laid out as in the official supernet; the
    fixed first and last blocks are ``blocks[0][0][0]`` and ``blocks[-1][0][0]``.
    """

    def __init__(self,
                 space: Union[str, dict, SearchSpace] = 'cream',
                 budget: Optional[Sequence[float]] = None,
                 depths: Optional[Sequence[int]] = None,
                 resolution: Optional[int] = None,
                 num_classes: int = 1000,
                 drop_rate: float = 0.,
                 init_cfg=None):
        space = build_space(space)
        super().__init__(space, num_classes, drop_rate, init_cfg=init_cfg)
        self.budget = None if budget is None else tuple(budget)
        self.depths, self.resolution = space.supernet_layout(budget, depths)
        if resolution is not None:
            if resolution % 32:
                raise ValueError(f'resolution={resolution}: expected a multiple of 32')
            self.resolution = resolution
        (first,), chs = build_blocks(space.stem_channels, [[space.first_block]])
        self.blocks = nn.ModuleList([nn.ModuleList([nn.ModuleList(first)])])
        for s, depth in enumerate(self.depths):
            stage = nn.ModuleList()
            for layer in range(depth):
                candidates = nn.ModuleList()
                for op in space.ops:
                    (block,), out_chs = build_blocks(chs, [[space.block_string(s, layer, op)]])
                    candidates.append(block[0])
                stage.append(candidates)
                chs = out_chs
            self.blocks.append(stage)
        (last,), chs = build_blocks(chs, [[space.last_block]])
        self.blocks.append(nn.ModuleList([nn.ModuleList(last)]))
        self._build_head(chs)
        self._init_like_official()

    # -- paths -----------------------------------------------------------
    def path_of(self, arch: Arch) -> list[list[int]]:
        """The op indices of an arch of this supernet's depths."""
        if arch.space != self.space or arch.depths != self.depths:
            raise ValueError(f'arch {arch} does not fit the supernet (space '
                             f'{self.space.name!r}, depths {self.depths})')
        return arch.op_indices()

    def arch_of(self, path: Path) -> Arch:
        self._check_path(path)
        return Arch(self.space, tuple(tuple(self.space.ops[op] for op in ops) for ops in path),
                    self.resolution)

    def _check_path(self, path: Path) -> None:
        depths = [len(ops) for ops in path]
        if depths != self.depths:
            raise ValueError(f'path with depths {depths} does not fit the supernet depths '
                             f'{self.depths}')

    def forward(self, x: torch.Tensor, path: Union[Path, Arch]) -> torch.Tensor:
        if isinstance(path, Arch):
            path = self.path_of(path)
        else:
            self._check_path(path)
        x = self.blocks[0][0][0](self.forward_stem(x))
        for stage, ops in zip(self.blocks[1:-1], path):
            for candidates, op in zip(stage, ops):
                x = candidates[op](x)
        x = self.blocks[-1][0][0](x)
        return self.forward_head(x)

    def path_modules(self, path: Path) -> list[nn.Module]:
        """The modules that one path runs (shared stem and head included)."""
        modules = [self.conv_stem, self.bn1, self.blocks[0]]
        for stage, ops in zip(self.blocks[1:-1], path):
            modules.extend(candidates[op] for candidates, op in zip(stage, ops))
        modules.extend([self.blocks[-1], self.conv_head, self.classifier])
        return modules

    def path_parameters(self, path: Path):
        for module in self.path_modules(path):
            yield from module.parameters()

    # -- children ----------------------------------------------------------
    def export_child(self, path: Union[Path, Arch], **kwargs) -> CreamNet:
        """A :class:`CreamNet` of one path, with the supernet's weights."""
        arch = path if isinstance(path, Arch) else self.arch_of(path)
        indices = self.path_of(arch)
        child = CreamNet(arch, num_classes=self.num_classes, drop_rate=self.drop_rate, **kwargs)
        source = self.state_dict()
        state = {}
        for key in child.state_dict():
            match = _BLOCK_KEY.match(key)
            if match is None:
                state[key] = source[key]
                continue
            stage, layer, rest = int(match[1]), int(match[2]), match[3]
            searchable = 1 <= stage <= len(indices)
            op = indices[stage - 1][layer] if searchable else 0
            state[key] = source[f'blocks.{stage}.{layer}.{op}.{rest}']
        child.load_state_dict(state, strict=True)
        return child
