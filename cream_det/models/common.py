"""What the supernet and its children share: timm's block builder set up as
Cream uses it, the stem and the head, and the detection-backbone options
(``out_indices``, ``frozen_stages``, ``norm_eval``, checked loading).

The official code built the same blocks with timm 0.1.x (``se_kwargs`` with
``reduce_mid=True, divisor=8, gate_fn=hard_sigmoid, act_layer=ReLU``);
today's timm expresses that as the ``se_layer`` below, and keeps the module
names (``conv_pw``, ``bn1``, ``se.conv_reduce`` ...) that release checkpoints
use.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from timm.layers import BatchNormAct2d, create_conv2d, make_divisible
from timm.layers.activations import HardSigmoid
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import (EfficientNetBuilder, decode_arch_def,
                                               efficientnet_init_weights)
from torch.nn.modules.batchnorm import _BatchNorm

from ..checkpoint import fit_problems
from ..errors import CheckpointError, ConfigError
from ..space import SearchSpace

# SE reduced channels are a multiple of 8 of the expanded channels x ratio,
# with ReLU inside and a hard-sigmoid gate, whatever the block's activation.
# The gate is timm's relu6(x + 3) / 6, as the official one: torch's native
# hardsigmoid has no second derivative, which the meta-matching update needs.
CreamSqueezeExcite = partial(SqueezeExcite, gate_layer=HardSigmoid,
                             force_act_layer=nn.ReLU, rd_round_fn=make_divisible)
ACT_LAYER = nn.SiLU  # Swish


def build_blocks(in_chs: int, arch_def: list[list[str]], drop_path_rate: float = 0.
                 ) -> tuple[list[nn.Sequential], int]:
    """Turn block strings into timm blocks; return the stages and out channels."""
    builder = EfficientNetBuilder(output_stride=32, pad_type='', se_from_exp=True,
                                  act_layer=ACT_LAYER, norm_layer=nn.BatchNorm2d,
                                  se_layer=CreamSqueezeExcite, drop_path_rate=drop_path_rate)
    stages = builder(in_chs, decode_arch_def(arch_def))
    return stages, builder.in_chs


def inner_args(cfg: dict, expected: str, owner: str) -> dict:
    """The arguments of a network config nested in ``owner``'s config. Its
    ``type`` may be left out or name ``expected``; another type is refused
    rather than silently built as ``expected``."""
    cfg = dict(cfg)
    given = cfg.pop('type', expected)
    if given.split('.')[-1] != expected:
        raise ConfigError(f'{owner} builds a {expected}; got type={given!r}')
    return cfg


class CreamBase(BaseModule):
    """Stem, classification head and the detection-backbone options that
    :class:`CreamNet` and :class:`CreamSuperNet` share; subclasses build
    ``self.blocks``, one entry per top-level block stage, and run them
    (a backbone through :meth:`forward_features`).

    Parameter names follow the official networks (``conv_stem``, ``bn1``,
    ``blocks``, ``conv_head``, ``classifier``), so release checkpoints load
    without renaming. As in MobileNetV3, pooling comes before ``conv_head``.

    Args:
        out_indices: if given, the network is a detection backbone without a
            head and returns the outputs of these top-level block stages:
            index 0 is the fixed first block, 1..N the searchable stages and
            N+1 the fixed last block (the space's ``feature_channels()`` and
            ``feature_strides()``; see ``feature_info``).
        frozen_stages: -1 freezes nothing, 0 the stem, k the stem and block
            stages ``0..k-1``: the meaning of mmdet's ResNet and MobileNetV2.
            (mmdet's EfficientNet counts the stem as stage 0, so there 0
            freezes nothing and 1 the stem.)
        norm_eval: keep BatchNorm layers in eval mode while training.
    """

    # The classification head; a backbone has none and ignores these keys.
    HEAD_KEYS = ('conv_head.', 'classifier.')

    def __init__(self, space: SearchSpace, num_classes: int = 1000, drop_rate: float = 0.,
                 out_indices: Optional[Sequence[int]] = None, frozen_stages: int = -1,
                 norm_eval: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.space = space
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.out_indices = None if out_indices is None else tuple(out_indices)
        self.with_head = self.out_indices is None
        if self.out_indices is not None:
            space.check_out_indices(self.out_indices)
        self.feature_info = [dict(channels=c, stride=s) for c, s in
                             zip(space.feature_channels(), space.feature_strides())]
        if not -1 <= frozen_stages <= len(self.feature_info):
            raise ConfigError(f'frozen_stages={frozen_stages}: expected -1 (none) to '
                              f'{len(self.feature_info)} (stem and every block stage)')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.conv_stem = create_conv2d(3, space.stem_channels, 3, stride=2)
        self.bn1 = BatchNormAct2d(space.stem_channels, act_layer=ACT_LAYER, inplace=True)

    def _build_head(self, in_chs: int) -> None:
        if not self.with_head:
            return
        self.conv_head = create_conv2d(in_chs, self.space.head_channels, 1, bias=True)
        self.act2 = ACT_LAYER(inplace=True)
        self.classifier = nn.Linear(self.space.head_channels, self.num_classes) \
            if self.num_classes else nn.Identity()

    def _init_like_official(self) -> None:
        efficientnet_init_weights(self)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv_stem(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean((2, 3), keepdim=True)
        x = self.act2(self.conv_head(x)).flatten(1)
        if self.drop_rate > 0.:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)

    # -- the detection backbone -------------------------------------------
    @property
    def out_channels(self) -> list[int]:
        """Channels of each returned feature map, for the neck's in_channels."""
        return [self.feature_info[i]['channels'] for i in self.out_indices]

    def forward_features(self, x: torch.Tensor,
                         run_stage: Callable[[int, torch.Tensor], torch.Tensor]) -> tuple:
        """The stem, then top-level block stages ``0..max(out_indices)`` by
        ``run_stage(index, x)``; the outputs at ``out_indices``."""
        x = self.forward_stem(x)
        outs = []
        for i in range(max(self.out_indices) + 1):
            x = run_stage(i, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def backbone_state_dict(self) -> dict:
        """The weights a detection backbone of this network takes: all but the head."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(self.HEAD_KEYS)}

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv_stem, self.bn1, *self.blocks[:self.frozen_stages]]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _check_loads_fit(self, described: str) -> None:
        """From now on every load into this network (torch's or mmengine's,
        strict or not) is checked first: see :func:`_check_state_fits`.
        ``described`` names the network and what the weights must fit."""
        self._fit_description = described
        self.register_load_state_dict_pre_hook(_check_state_fits)


def _check_state_fits(net: CreamBase, state_dict: dict, prefix: str, *unused) -> None:
    """Before any load: the keys under ``prefix`` must be exactly the
    network's, with its shapes; a backbone drops the head keys of a
    classification (or search) checkpoint. mmengine's Pretrained init would
    otherwise only warn and leave random layers."""
    own = net.state_dict()
    state = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not net.with_head:
        for key in [k for k in state if k.startswith(net.HEAD_KEYS)]:
            del state_dict[prefix + key], state[key]
    problems = fit_problems(own, state)
    if problems:
        raise CheckpointError(f'the weights loaded into {net._fit_description}: '
                              + '; '.join(problems))
