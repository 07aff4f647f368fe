"""What the detection configs need from the search space: the channels of
the backbone outputs they feed to the neck, derived rather than copied, and a
check that a config's neck still fits its backbone after overrides."""
from __future__ import annotations

from typing import Sequence, Union

from ..errors import ConfigError
from ..models.cream_net import configured_arch
from ..space import SearchSpace, build_space


def backbone_channels(space: Union[str, dict, SearchSpace],
                      out_indices: Sequence[int]) -> list[int]:
    """Channels of :class:`CreamNet` outputs ``out_indices`` in ``space``;
    every arch of a space has the same ones. For the neck's ``in_channels``
    in a config (mmengine keeps no functions in a config, so importing this
    one there leaves the config clean)."""
    return build_space(space).check_out_indices(out_indices)


def check_neck_channels(model_cfg: dict) -> None:
    """For a detector config with a CreamNet or CreamSuperNet backbone (also
    the detector inside a CreamDetSearch): the neck's ``in_channels`` must be
    the backbone's output channels. Without this, a mismatch surfaces as a
    convolution shape error deep in the first forward."""
    if model_cfg.get('type') == 'CreamDetSearch':
        model_cfg = model_cfg.get('detector') or {}
        prefix = 'model.detector'
    else:
        prefix = 'model'
    backbone, neck = model_cfg.get('backbone', {}), model_cfg.get('neck')
    if backbone.get('type') not in ('CreamNet', 'CreamSuperNet') or not isinstance(neck, dict) \
            or 'in_channels' not in neck or backbone.get('out_indices') is None:
        return
    if backbone['type'] == 'CreamNet':
        arch = configured_arch(backbone.get('arch'), backbone.get('init_cfg'))
        space, which = arch.space, f'CreamNet arch {arch}'
    else:
        space = build_space(backbone.get('space', 'cream'))
        which = f'CreamSuperNet space {space.name!r}'
    expected = backbone_channels(space, backbone['out_indices'])
    if list(neck['in_channels']) != expected:
        raise ConfigError(
            f"the neck's in_channels {list(neck['in_channels'])} do not match the backbone's "
            f"output channels {expected} ({which}, out_indices "
            f"{list(backbone['out_indices'])}): set {prefix}.neck.in_channels={expected}")
