"""CreamNet: one arch of a search space, as a classifier or an mmdet backbone."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import ArchLike, resolve_arch
from .common import CreamBase, build_blocks


@MODELS.register_module()
class CreamNet(CreamBase):
    """A Cream child network built from timm's EfficientNet blocks.

    Args:
        arch: a published name (``'cream-287'``), an arch file, or an Arch.
        num_classes: classifier outputs (classifier mode only).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, growing linearly over the blocks.
        out_indices: if given, the network is a detection backbone and
            returns the outputs of these top-level block stages: index 0 is
            the fixed first block (stride 2), 1-5 the searchable stages and 6
            the fixed last block. For the Cream space: 16/24/40/80/96/192/320
            channels at strides 2/4/8/16/16/32/32; see ``feature_info``.
        frozen_stages: freeze the stem (>= 0) and block stages ``0..k-1``.
        norm_eval: keep BatchNorm layers in eval mode while training.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained',
            checkpoint=...)``; without it, timm's EfficientNet init is used.
    """

    def __init__(self,
                 arch: ArchLike = 'cream-287',
                 num_classes: int = 1000,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=None):
        self.arch = resolve_arch(arch)
        space = self.arch.space
        super().__init__(space, num_classes, drop_rate, with_head=out_indices is None,
                         init_cfg=init_cfg)
        arch_def = ([[space.first_block]]
                    + [[space.block_string(s, layer, op) for layer, op in enumerate(ops)]
                       for s, ops in enumerate(self.arch.stages)]
                    + [[space.last_block]])
        stages, out_chs = build_blocks(space.stem_channels, arch_def, drop_path_rate)
        self.blocks = nn.Sequential(*stages)
        self._build_head(out_chs)
        self.feature_info = [dict(channels=c, stride=s) for c, s in
                             zip(space.feature_channels(), space.feature_strides())]
        self.out_indices = None if out_indices is None else tuple(out_indices)
        if self.out_indices is not None:
            self._check_out_indices()
        if not -1 <= frozen_stages <= len(self.blocks):
            raise ValueError(f'frozen_stages={frozen_stages}: expected -1 (none) to '
                             f'{len(self.blocks)} (stem and every block stage)')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._init_like_official()
        self._freeze_stages()

    def _check_out_indices(self) -> None:
        valid = range(len(self.blocks))
        bad = [i for i in self.out_indices if i not in valid]
        if bad or not self.out_indices or list(self.out_indices) != sorted(set(self.out_indices)):
            table = ', '.join(f'{i}: {f["channels"]}ch/s{f["stride"]}'
                              for i, f in enumerate(self.feature_info))
            raise ValueError(f'out_indices={list(self.out_indices)}: expected distinct '
                             f'ascending indices in 0..{len(self.blocks) - 1} ({table})')

    @property
    def out_channels(self) -> list[int]:
        """Channels of each returned feature map, for the neck's in_channels."""
        return [self.feature_info[i]['channels'] for i in self.out_indices]

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv_stem, self.bn1, *self.blocks[:self.frozen_stages]]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'CreamNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor):
        x = self.forward_stem(x)
        if self.out_indices is None:
            return self.forward_head(self.blocks(x))
        outs = []
        for i, stage in enumerate(self.blocks[:max(self.out_indices) + 1]):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
