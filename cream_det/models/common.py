"""What the supernet and its children share: timm's block builder set up as
Cream uses it, the stem and the head.

The official code built the same blocks with timm 0.1.x (``se_kwargs`` with
``reduce_mid=True, divisor=8, gate_fn=hard_sigmoid, act_layer=ReLU``);
today's timm expresses that as the ``se_layer`` below, and keeps the module
names (``conv_pw``, ``bn1``, ``se.conv_reduce`` ...) that release checkpoints
use.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from timm.layers import BatchNormAct2d, create_conv2d, make_divisible
from timm.layers.activations import HardSigmoid
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import (EfficientNetBuilder, decode_arch_def,
                                               efficientnet_init_weights)

from ..errors import ConfigError
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
    """Stem and classification head; subclasses build ``self.blocks``.

    Parameter names follow the official networks (``conv_stem``, ``bn1``,
    ``blocks``, ``conv_head``, ``classifier``), so release checkpoints load
    without renaming. As in MobileNetV3, pooling comes before ``conv_head``.
    """

    def __init__(self, space: SearchSpace, num_classes: int = 1000, drop_rate: float = 0.,
                 with_head: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.space = space
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.with_head = with_head
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
