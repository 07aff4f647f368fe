"""What the detection configs need from the search space: the channels of
the backbone outputs they feed to the neck, derived rather than copied, and a
check that a config's neck still fits its backbone after overrides."""
from __future__ import annotations

from typing import Sequence, Union

from .registry import resolve_arch
from .space import SearchSpace, build_space


def backbone_channels(space: Union[str, dict, SearchSpace],
                      out_indices: Sequence[int]) -> list[int]:
    """Channels of :class:`CreamNet` outputs ``out_indices`` in ``space``;
    every arch of a space has the same ones. For the neck's ``in_channels``
    in a config (mmengine keeps no functions in a config, so importing this
    one there leaves the config clean)."""
    space = build_space(space)
    channels, strides = space.feature_channels(), space.feature_strides()
    bad = [i for i in out_indices if not 0 <= i < len(channels)]
    if bad:
        table = ', '.join(f'{i}: {c}ch/s{s}' for i, (c, s) in enumerate(zip(channels, strides)))
        raise ValueError(f'out_indices={list(out_indices)}: {bad} do not exist in space '
                         f'{space.name!r}, which has outputs {table}')
    return [channels[i] for i in out_indices]


def check_neck_channels(model_cfg: dict) -> None:
    """For a detector config with a CreamNet backbone: the neck's
    ``in_channels`` must be the backbone's output channels. Without this, a
    mismatch surfaces as a convolution shape error deep in the first forward."""
    backbone, neck = model_cfg.get('backbone', {}), model_cfg.get('neck')
    if backbone.get('type') != 'CreamNet' or not isinstance(neck, dict) \
            or 'in_channels' not in neck or backbone.get('out_indices') is None:
        return
    arch = resolve_arch(backbone.get('arch', 'cream-287'))
    expected = backbone_channels(arch.space, backbone['out_indices'])
    if list(neck['in_channels']) != expected:
        raise ValueError(
            f"the neck's in_channels {list(neck['in_channels'])} do not match the backbone's "
            f"output channels {expected} (CreamNet arch {arch}, out_indices "
            f"{list(backbone['out_indices'])}): set model.neck.in_channels={expected}")
