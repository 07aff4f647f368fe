"""CreamSuperNet: every candidate op of every searchable layer, weights shared
by all paths; a path runs one op per layer. A classifier for the search, or,
with ``out_indices``, an mmdet backbone that runs the path set on it."""
from __future__ import annotations

import re
from typing import Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS

from ..arch import Arch, OpPath, sample_path, split_path
from ..archs import ArchLike, resolve_arch
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
        out_indices, frozen_stages, norm_eval: the detection backbone, as
            for :class:`CreamNet` (the same indices, channels and strides:
            the space's ``feature_channels()`` and ``feature_strides()``).
            With ``out_indices`` the supernet has no head, ``forward(x)``
            returns the feature maps of the path set by :meth:`set_path`
            (mmdet calls ``backbone(x)``), and weights load as into a
            CreamNet: head keys dropped, the rest checked to fit, so that
            ``init_cfg=dict(type='Pretrained', checkpoint=SEARCH_CKPT,
            prefix='supernet.')`` takes a classification search's supernet.
        path: the path ``forward(x)`` runs when given none, fixed in a
            config: op indices per stage, an Arch, a published arch name,
            an arch file or its dict (see :meth:`set_path`).

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
                 out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 path: Union[OpPath, ArchLike, None] = None,
                 init_cfg=None):
        if weight_sharing not in CANDIDATES:
            raise ConfigError(f'weight_sharing={weight_sharing!r}: expected one of '
                              f'{tuple(CANDIDATES)}')
        space = build_space(space)
        super().__init__(space, num_classes, drop_rate, out_indices=out_indices,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, init_cfg=init_cfg)
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
        self._freeze_stages()
        self.set_path(path)
        if not self.with_head:
            self._check_loads_fit(f'CreamSuperNet (space {space.name!r}, depths {self.depths}, '
                                  f'{weight_sharing} candidates) do not fit it')

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

    def set_path(self, path: Union[OpPath, ArchLike, None]) -> None:
        """The path that ``forward(x)`` runs when given none (a detection
        search sets one each iteration): op indices per stage, an Arch, a
        published arch name, an arch file or its dict; None clears it."""
        if path is None:
            self.path = None
        elif isinstance(path, (list, tuple)):
            if not all(isinstance(ops, (list, tuple)) for ops in path):
                raise ArchError(f'path {path!r}: expected a list of op indices per searchable '
                                f'stage, for depths {self.depths}')
            self.arch_of(path)  # the depths and every op index checked
            self.path = [[int(op) for op in ops] for ops in path]
        else:
            self.path = self.path_of(resolve_arch(path))

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

    def forward_stage(self, index: int, x: torch.Tensor, path: OpPath) -> torch.Tensor:
        """Top-level block stage ``index``: 0 the fixed first block, 1..N a
        searchable stage with the path's ops, N+1 the fixed last block."""
        if 1 <= index <= len(self.depths):
            for candidates, op in zip(self.blocks[index], path[index - 1]):
                x = candidates(x, op)
            return x
        return self.blocks[index][0][0](x)

    def forward(self, x: torch.Tensor, path: Union[OpPath, Arch, None] = None):
        """The logits of ``path`` or, with ``out_indices``, its feature maps
        there; without ``path``, the one of :meth:`set_path` (or the config)."""
        if path is None:
            path = self.path
            if path is None:
                raise ConfigError(
                    'CreamSuperNet has no path to run: call set_path(path) before '
                    'forward(x) (a detection search does, each iteration), give path= in '
                    'its config (an arch name, an arch file or op indices per stage), or '
                    'call forward(x, path)')
        elif isinstance(path, Arch):
            path = self.path_of(path)
        else:
            self._check_path(path)
        if self.out_indices is not None:
            return self.forward_features(x, lambda i, h: self.forward_stage(i, h, path))
        x = self.forward_stem(x)
        for i in range(len(self.blocks)):
            x = self.forward_stage(i, x, path)
        return self.forward_head(x)

    def path_modules(self, path: OpPath) -> list[nn.Module]:
        """The modules that one path runs (shared stem and head included;
        a backbone's up to its deepest output)."""
        last = len(self.blocks) - 1 if self.with_head else max(self.out_indices)
        modules = [self.conv_stem, self.bn1]
        for i in range(last + 1):
            if 1 <= i <= len(self.depths):
                modules.extend(candidates.op_module(op)
                               for candidates, op in zip(self.blocks[i], path[i - 1]))
            else:
                modules.append(self.blocks[i])
        if self.with_head:
            modules.extend([self.conv_head, self.classifier])
        return modules

    def path_parameters(self, path: OpPath):
        for module in self.path_modules(path):
            yield from module.parameters()

    # -- children ----------------------------------------------------------
    def export_child(self, path: Union[OpPath, Arch], **kwargs) -> CreamNet:
        """A :class:`CreamNet` of one path, with the supernet's weights; a
        backbone supernet's child is a backbone with its ``out_indices``
        unless told otherwise."""
        if not self.with_head:
            kwargs.setdefault('out_indices', self.out_indices)
            if kwargs['out_indices'] is None:
                raise ConfigError('this CreamSuperNet is a backbone, without a head: its '
                                  'children need out_indices')
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
