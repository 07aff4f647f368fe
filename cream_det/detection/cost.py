"""Detectors built from their configs to be counted and timed, and what
``tools/analysis_tools/get_flops.py`` prints for a config."""
from __future__ import annotations

import copy
import os
from typing import Sequence

import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..cost import archs_cost_text, detector_cost
from ..errors import ConfigError


def build_detector(model_cfg: dict) -> nn.Module:
    """The detector of a config's ``model``, in eval mode, its backbone
    without pretrained weights: counting and timing need none.

    (mmdet.apis.init_detector builds one too, from a whole Config it
    changes, and warns that no checkpoint was given after setting the
    process's warnings filter to 'once'.)"""
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    init_default_scope('mmdet')
    return MODELS.build(model_cfg).eval()


def config_cost_text(config: str, shape: Sequence[int] = (800, 1333),
                     resolution: int = None) -> str:
    """What ``tools/analysis_tools/get_flops.py`` prints for a config: a whole
    detector on one ``shape`` image, or the config's CreamNet as a classifier."""
    model = Config.fromfile(config).model
    name = os.path.basename(config)
    if 'bbox_head' in model:
        cost = detector_cost(build_detector(model), *shape)
        return (f'{name}: {model.type} on {shape[0]}x{shape[1]}: '
                f'{cost["flops"] / 1e9:.2f} GFLOPs, {cost["params"] / 1e6:.2f} M parameters')
    if model.get('type') in ('CreamNet', 'mmdet.CreamNet') and 'arch' in model:
        arch = model['arch']
    elif 'arch' in model.get('backbone', {}):  # a CreamClassifier
        arch = model.backbone['arch']
    else:
        raise ConfigError(f'{config}: found no CreamNet with an arch in model or model.backbone')
    return archs_cost_text([arch], [name], resolution)
