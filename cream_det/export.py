"""Backbone files for the detectors, for the two cases that need code.

A pretraining checkpoint needs none: a detection config loads it with
``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')``
(mmengine's state dict holds the EMA weights), and the arch comes with it.
What needs an export is a supernet path with the weights it inherits from a
search checkpoint, and an official release file, whose bare keys carry no
arch: both become ``backbone.`` keys without the head, with the arch in
``meta``.
"""
from __future__ import annotations

import os.path as osp
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from .archs import ArchLike, resolve_arch
from .checkpoint import load_weights, read_checkpoint
from .errors import ConfigError
from .search import PathSearch


def export_backbone(config: Union[str, Config], checkpoint: str, out: str,
                    arch: Optional[ArchLike] = None) -> dict:
    """Write ``out``; return its meta. ``config`` is the search (classification
    or detection-aware) or classification config the checkpoint belongs to;
    for a search, ``arch`` picks the path (default: the top of the board)."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    saved = read_checkpoint(checkpoint).get('meta')
    if isinstance(saved, dict) and 'arch' in saved and 'backbone' in cfg.model:
        cfg.model.backbone.arch = saved['arch']  # the arch it was trained for
    model = MODELS.build(cfg.model)
    which = load_weights(model, checkpoint)
    if isinstance(model, PathSearch):  # either search: its supernet's path
        path = model.board.path(0) if arch is None \
            else model.supernet.path_of(resolve_arch(arch))
        backbone = model.supernet.export_child(path)
        which = f'supernet path ({"given arch" if arch else "top of the board"})'
    elif arch is not None:
        raise ConfigError('--arch is for search checkpoints; this config trains '
                          f'{model.backbone.arch}')
    else:
        backbone = model.backbone
    state = {'backbone.' + k: v for k, v in backbone.backbone_state_dict().items()}
    meta = dict(arch=backbone.arch.to_dict(), source=osp.abspath(checkpoint),
                weights=which, description=str(backbone.arch))
    torch.save(dict(state_dict=state, meta=meta), out)
    return meta
