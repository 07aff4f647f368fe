"""CreamNet: one arch of a search space, as a classifier or an mmdet backbone."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..arch import Arch
from ..archs import ArchLike, resolve_arch
from ..checkpoint import fit_problems, read_checkpoint
from ..errors import CheckpointError, ConfigError
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
        out_indices: if given, the network is a detection backbone and
            returns the outputs of these top-level block stages: index 0 is
            the fixed first block (stride 2), 1-5 the searchable stages and 6
            the fixed last block. For the Cream space: 16/24/40/80/96/192/320
            channels at strides 2/4/8/16/16/32/32; see ``feature_info``.
        frozen_stages: -1 freezes nothing, 0 the stem, k the stem and block
            stages ``0..k-1``: the meaning of mmdet's ResNet and MobileNetV2.
            (mmdet's EfficientNet counts the stem as stage 0, so there 0
            freezes nothing and 1 the stem.)
        norm_eval: keep BatchNorm layers in eval mode while training.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``; without it, timm's
            EfficientNet init is used. Whatever loads into the network is
            checked against its arch: every key present with its shape, or
            an error that lists the mismatches (mmengine's Pretrained init
            would otherwise only warn and leave random layers).
    """

    # The classification head; a backbone has none and ignores these keys.
    HEAD_KEYS = ('conv_head.', 'classifier.')

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
            space.check_out_indices(self.out_indices)
        if not -1 <= frozen_stages <= len(self.blocks):
            raise ConfigError(f'frozen_stages={frozen_stages}: expected -1 (none) to '
                              f'{len(self.blocks)} (stem and every block stage)')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._init_like_official()
        self._freeze_stages()
        self.register_load_state_dict_pre_hook(_check_state_fits_arch)

    @property
    def out_channels(self) -> list[int]:
        """Channels of each returned feature map, for the neck's in_channels."""
        return [self.feature_info[i]['channels'] for i in self.out_indices]

    def backbone_state_dict(self) -> dict:
        """The weights a detection backbone of this arch takes: all but the head."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(self.HEAD_KEYS)}

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


def _check_state_fits_arch(net: CreamNet, state_dict: dict, prefix: str, *unused) -> None:
    """Before any load (torch's or mmengine's, strict or not): the keys under
    ``prefix`` must be exactly this arch's, with its shapes; a backbone drops
    the head keys of a classification checkpoint."""
    own = net.state_dict()
    state = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not net.with_head:
        for key in [k for k in state if k.startswith(net.HEAD_KEYS)]:
            del state_dict[prefix + key], state[key]
    problems = fit_problems(own, state)
    if problems:
        raise CheckpointError(f'the weights loaded into CreamNet ({net.arch}) do not fit its '
                              'arch: ' + '; '.join(problems))
