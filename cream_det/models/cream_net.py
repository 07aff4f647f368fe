"""CreamNet: one arch of a search space, as a classifier or an mmdet backbone."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmdet.registry import MODELS

from ..arch import Arch
from ..archs import ArchLike, resolve_arch
from ..checkpoint import read_checkpoint
from ..errors import ConfigError
from .common import CreamBase, build_blocks


@MODELS.register_module()
class CreamNet(CreamBase):
    """A Cream child network built from timm's EfficientNet blocks.

    Args:
        arch: a published name (``'cream-287'``), an arch file, or an Arch.
            Left out, it is read from the ``meta['arch']`` of the checkpoint
            that ``init_cfg`` loads (exported backbones and search exports
            carry it), so that an arch cannot travel without its weights.
        num_classes: classifier outputs (classifier mode only).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, growing linearly over the blocks.
        out_indices, frozen_stages, norm_eval: the detection backbone, as
            :class:`~cream_det.models.common.CreamBase` describes. For the
            Cream space, indices 0-6 give 16/24/40/80/96/192/320 channels at
            strides 2/4/8/16/16/32/32; see ``feature_info``.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``; without it, timm's
            EfficientNet init is used. Whatever loads into the network is
            checked against its arch: every key present with its shape, or
            an error that lists the mismatches (mmengine's Pretrained init
            would otherwise only warn and leave random layers).
    """

    def __init__(self,
                 arch: Optional[ArchLike] = None,
                 num_classes: int = 1000,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg=None):
        self.arch = configured_arch(arch, init_cfg)
        space = self.arch.space
        super().__init__(space, num_classes, drop_rate, out_indices=out_indices,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, init_cfg=init_cfg)
        arch_def = ([[space.first_block]]
                    + [[space.block_string(s, layer, op) for layer, op in enumerate(ops)]
                       for s, ops in enumerate(self.arch.stages)]
                    + [[space.last_block]])
        stages, out_chs = build_blocks(space.stem_channels, arch_def, drop_path_rate)
        self.blocks = nn.Sequential(*stages)
        self._build_head(out_chs)
        self._init_like_official()
        self._freeze_stages()
        self._check_loads_fit(f'CreamNet ({self.arch}) do not fit its arch')

    def forward(self, x: torch.Tensor):
        if self.out_indices is not None:
            return self.forward_features(x, lambda i, h: self.blocks[i](h))
        return self.forward_head(self.blocks(self.forward_stem(x)))


def configured_arch(arch: Optional[ArchLike], init_cfg=None) -> Arch:
    """The arch a CreamNet config builds: ``arch``, or else the one that the
    checkpoint of a Pretrained ``init_cfg`` carries in its meta."""
    if arch is not None:
        return resolve_arch(arch)
    checkpoint = init_cfg.get('checkpoint') if isinstance(init_cfg, dict) \
        and init_cfg.get('type') == 'Pretrained' else None
    if checkpoint is None:
        raise ConfigError('CreamNet needs an arch: give arch= (a published name or an arch '
                          "file), or init_cfg=dict(type='Pretrained', checkpoint=...) with a "
                          "checkpoint whose meta holds the arch")
    meta = read_checkpoint(checkpoint).get('meta')
    if not isinstance(meta, dict) or not isinstance(meta.get('arch'), dict):
        raise ConfigError(f'checkpoint {checkpoint} carries no arch in its meta: give arch= '
                          'as well')
    return resolve_arch(meta['arch'])

