"""What export reads from a config and a checkpoint: the network built with
timm's exportable layers, its weights, and the facts a deployed file must
carry (class names, input size, pixel statistics, test pipeline, commit),
which are also what a config given later with the file is checked against.
"""
from __future__ import annotations

import math
import os.path as osp
from typing import Optional

import torch.nn as nn
from mmengine.config import Config

from ..errors import ConfigError
from .export import export_kind, git_commit


def load_for_export(cfg: Config, checkpoint: Optional[str] = None,
                    backbone: bool = False) -> nn.Module:
    """The config's model (or, with ``backbone``, its backbone) in eval mode,
    with the checkpoint's weights (EMA where the file has them; without a
    checkpoint, as the config initialises it).

    Built with timm's exportable layers: timm's memory-efficient
    activations are autograd functions that the ONNX exporter cannot trace
    (timm #730); the exportable ones are plain modules."""
    from mmengine.registry import MODELS, init_default_scope
    from timm.layers import set_layer_config

    from ..checkpoint import load_weights
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    with set_layer_config(exportable=True):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_weights(model, checkpoint)
    elif hasattr(model, 'init_weights'):
        model.init_weights()
    if backbone:
        if not hasattr(model, 'backbone') or export_kind(model) != 'detector':
            raise ConfigError('--backbone: the config is not a detector with a backbone '
                              f'(its model is {type(model).__name__})')
        model = model.backbone
    return model.eval()


def input_hw(cfg: Config, kind: str) -> tuple:
    """The input size a config's test data has: a classifier's dataset
    ``resolution``; a detector's test-pipeline ``Resize`` scale, the short
    side as the height, each side rounded up to the preprocessor's
    ``pad_size_divisor`` (the largest padded landscape image)."""
    dataset = test_dataset_cfg(cfg)
    if kind == 'classifier':
        if 'resolution' not in dataset:
            raise ConfigError("the config's test dataset has no resolution: give --shape H W")
        return int(dataset['resolution']), int(dataset['resolution'])
    resize = [t for t in dataset.get('pipeline', []) if t['type'].split('.')[-1] == 'Resize']
    if not resize or 'scale' not in resize[0]:
        raise ConfigError("the config's test pipeline has no Resize with a scale: give --shape H W")
    scale = resize[0]['scale']
    scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
    height, width = (min(scale), max(scale)) if resize[0].get('keep_ratio') else scale[::-1]
    divisor = cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1)
    return tuple(int(math.ceil(s / divisor) * divisor) for s in (height, width))


def test_dataset_cfg(cfg: Config) -> dict:
    """The dataset of the config's test dataloader (inside any wrapper)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']
    return dataset


def class_names(cfg: Config, model: nn.Module, kind: str) -> list:
    """The classes the model predicts: the test dataset's metainfo, else
    its dataset type's, else the numbers (a classifier: as
    :func:`~cream_det.classification.apis.init_classifier` names them)."""
    from mmengine.registry import DATASETS
    dataset = test_dataset_cfg(cfg)
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None and dataset.get('type'):
        try:
            classes = getattr(DATASETS.get(dataset['type']), 'METAINFO', {}).get('classes')
        except KeyError:
            classes = None
    count = num_classes(model, kind)
    if count is None:  # a backbone: the classes of the detector it came from
        return None if classes is None else list(classes)
    if classes is None or len(classes) != count:
        if kind == 'classifier' and count == 1000:
            from timm.data import ImageNetInfo
            info = ImageNetInfo()
            return [info.index_to_description(i) for i in range(count)]
        return [str(i) for i in range(count)]
    return list(classes)


def num_classes(model: nn.Module, kind: str) -> Optional[int]:
    if kind == 'detector':
        return model.bbox_head.num_classes
    if kind == 'classifier':
        return getattr(model, 'backbone', model).num_classes
    return None


def export_metadata(cfg: Config, model: nn.Module, kind: str, checkpoint: Optional[str],
                    config_file: Optional[str] = None) -> dict:
    """What the file carries besides its graph (see :func:`check_fits`)."""
    from ..models import CreamNet
    net = getattr(model, 'backbone', model) if kind != 'backbone' else model
    arch = net.arch.to_dict() if isinstance(net, CreamNet) else type(net).__name__
    preprocessor = dict(cfg.model.get('data_preprocessor') or {})
    meta = dict(arch=arch, classes=class_names(cfg, model, kind),
                num_classes=num_classes(model, kind), mean=preprocessor.get('mean'),
                std=preprocessor.get('std'), bgr_to_rgb=preprocessor.get('bgr_to_rgb', False),
                data_preprocessor=preprocessor, config=config_file and osp.relpath(config_file),
                checkpoint=checkpoint and osp.relpath(checkpoint), commit=git_commit())
    dataset = test_dataset_cfg(cfg)
    if kind == 'classifier':
        meta['test_dataset'] = {k: v for k, v in dataset.items() if k in ('type', 'resolution')}
        if meta['mean'] is None and dataset.get('type') == 'ImageFolderData':
            # Its timm transform normalises: (x / 255 - m) / s, in pixels (x - 255 m) / 255 s.
            from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
            meta['mean'] = [255 * m for m in IMAGENET_DEFAULT_MEAN]
            meta['std'] = [255 * s for s in IMAGENET_DEFAULT_STD]
    else:
        meta['test_pipeline'] = [dict(t) for t in dataset.get('pipeline', [])]
        palette = (dataset.get('metainfo') or {}).get('palette')
        if palette:
            meta['palette'] = [list(c) for c in palette]
    if kind == 'detector':
        meta['test_cfg'] = dict(model.bbox_head.test_cfg)
    return meta


def check_fits(meta: dict, cfg: Config, file: str) -> None:
    """A config given with an exported file must describe the same network
    and input: the same class count and input size (read from the
    metadata), else one line naming both."""
    kind = meta.get('kind')
    if kind not in ('classifier', 'detector', 'backbone'):
        raise ConfigError(f'ONNX file {file} carries no cream_det metadata (kind): export it '
                          'with tools/deployment/pytorch2onnx.py')
    model_cfg = cfg.model
    expected = (model_cfg.get('bbox_head', {}).get('num_classes') if kind == 'detector'
                else model_cfg.get('backbone', {}).get('num_classes'))
    if kind != 'backbone' and expected is not None and expected != meta['num_classes']:
        raise ConfigError(f'ONNX file {file} predicts {meta["num_classes"]} classes, the config '
                          f'{expected}: export it from this config')
    hw = list(input_hw(cfg, 'classifier' if kind == 'classifier' else 'detector'))
    if list(meta['input_shape'][2:]) != hw:
        raise ConfigError(f'ONNX file {file} takes {meta["input_shape"][2]}x'
                          f'{meta["input_shape"][3]} inputs, the config\'s test data '
                          f'{hw[0]}x{hw[1]}: export it with --shape {hw[0]} {hw[1]}')
