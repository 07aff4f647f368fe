"""CreamSuperNet: every candidate op of every searchable layer, weights shared
by all paths; a path runs one op per layer."""
from __future__ import annotations

import re
from typing import Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS

from ..arch import Arch, OpPath, flatten_path, sample_path, split_path
from ..errors import ArchError, ConfigError
from ..space import SearchSpace, build_space
from .candidates import CANDIDATES
from .common import CreamBase, build_blocks
from .cream_net import CreamNet

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
        weight_sharing: 'independent' (the official supernet: a block per
            op) or 'entangled' (one block of the largest op whose slices
            are the other ops; see :mod:`.candidates`).

    ``blocks[stage][layer]`` holds a layer's candidates: with independent
    weights ``blocks[stage][layer][op]`` is laid out as in the official
    supernet. The fixed first and last blocks are ``blocks[0][0][0]`` and
    ``blocks[-1][0][0]``.
    """

    def __init__(self,
                 space: Union[str, dict, SearchSpace] = 'cream',
                 budget: Optional[Sequence[float]] = None,
                 depths: Optional[Sequence[int]] = None,
                 resolution: Optional[int] = None,
                 num_classes: int = 1000,
                 drop_rate: float = 0.,
                 weight_sharing: str = 'independent',
                 init_cfg=None):
        if weight_sharing not in CANDIDATES:
            raise ConfigError(f'weight_sharing={weight_sharing!r}: expected one of '
                              f'{tuple(CANDIDATES)}')
        space = build_space(space)
        super().__init__(space, num_classes, drop_rate, init_cfg=init_cfg)
        self.budget = None if budget is None else tuple(budget)
        self.weight_sharing = weight_sharing
        self.depths, self.resolution = space.supernet_layout(budget, depths)
        if resolution is not None:
            space.check_resolution(resolution)
            self.resolution = resolution
        (first,), chs = build_blocks(space.stem_channels, [[space.first_block]])
        self.blocks = nn.ModuleList([nn.ModuleList([nn.ModuleList(first)])])
        for s, depth in enumerate(self.depths):
            stage = nn.ModuleList()
            for layer in range(depth):
                blocks = []
                for op in space.ops:
                    (block,), out_chs = build_blocks(chs, [[space.block_string(s, layer, op)]])
                    blocks.append(block[0])
                stage.append(CANDIDATES[weight_sharing](blocks, space.ops))
                chs = out_chs
            self.blocks.append(stage)
        (last,), chs = build_blocks(chs, [[space.last_block]])
        self.blocks.append(nn.ModuleList([nn.ModuleList(last)]))
        self._build_head(chs)
        self._init_like_official()

    # -- paths: the supernet's own form of an arch (see cream_det.arch) ------
    def path_of(self, arch: Arch) -> OpPath:
        """The op indices of an arch of this supernet's depths."""
        if arch.space != self.space or arch.depths != self.depths:
            raise ArchError(f'arch {arch} does not fit the supernet (space '
                            f'{self.space.name!r}, depths {self.depths})')
        return arch.path()

    def arch_of(self, path: OpPath) -> Arch:
        self._check_path(path)
        return Arch.from_path(self.space, path, self.resolution)

    def split_path(self, flat: Sequence[int]) -> OpPath:
        """A board row (one op index per layer) -> a path of this supernet."""
        return split_path(flat, self.depths)

    def sample_path(self, generator: torch.Generator,
                    probs: Optional[torch.Tensor] = None) -> OpPath:
        """A random path: uniform, or with op probabilities ``probs``."""
        return sample_path(self.depths, len(self.space.ops), generator, probs)

    def _check_path(self, path: OpPath) -> None:
        depths = [len(ops) for ops in path]
        if depths != self.depths:
            raise ArchError(f'path with depths {depths} does not fit the supernet depths '
                            f'{self.depths}')

    # -- running ----------------------------------------------------------
    def forward_first(self, x: torch.Tensor) -> torch.Tensor:
        """What every path runs first: the stem and the fixed first block."""
        return self.blocks[0][0][0](self.forward_stem(x))

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """What every path runs last: the fixed last block and the head."""
        return self.forward_head(self.blocks[-1][0][0](x))

    def searchable_layers(self) -> Iterator[nn.ModuleList]:
        """The candidates of each searchable layer, in forward order."""
        for stage in self.blocks[1:-1]:
            yield from stage

    def forward(self, x: torch.Tensor, path: Union[OpPath, Arch]) -> torch.Tensor:
        if isinstance(path, Arch):
            path = self.path_of(path)
        else:
            self._check_path(path)
        x = self.forward_first(x)
        for candidates, op in zip(self.searchable_layers(), flatten_path(path)):
            x = candidates(x, op)
        return self.forward_last(x)

    def path_modules(self, path: OpPath) -> list[nn.Module]:
        """The modules that one path runs (shared stem and head included)."""
        modules = [self.conv_stem, self.bn1, self.blocks[0]]
        modules.extend(candidates.op_module(op) for candidates, op
                       in zip(self.searchable_layers(), flatten_path(path)))
        modules.extend([self.blocks[-1], self.conv_head, self.classifier])
        return modules

    def path_parameters(self, path: OpPath):
        for module in self.path_modules(path):
            yield from module.parameters()

    # -- children ----------------------------------------------------------
    def export_child(self, path: Union[OpPath, Arch], **kwargs) -> CreamNet:
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
            if 1 <= stage <= len(indices):
                state[key] = self.blocks[stage][layer].op_state(indices[stage - 1][layer])[rest]
            else:
                state[key] = source[f'blocks.{stage}.{layer}.0.{rest}']
        child.load_state_dict(state, strict=True)
        return child
