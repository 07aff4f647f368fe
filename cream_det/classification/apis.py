"""Classification inference with a config and a checkpoint, in the manner of
mmdet's ``init_detector`` / ``inference_detector``."""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS
from PIL import Image
from timm.data import ImageNetInfo

from ..checkpoint import load_weights, read_checkpoint

ImageLike = Union[str, np.ndarray, Image.Image]


def init_classifier(config: Union[str, Config], checkpoint: str = None,
                    device: str = 'cpu') -> torch.nn.Module:
    """The config's classifier in eval mode, with the checkpoint's weights
    (EMA where the file has them), its class names in ``model.classes`` and
    its evaluation transform in ``model.image_transform``."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    model = MODELS.build(cfg.model)
    classes = None
    if checkpoint is not None:
        load_weights(model, checkpoint)
        meta = read_checkpoint(checkpoint).get('meta')
        if isinstance(meta, dict):
            classes = meta.get('dataset_meta', {}).get('classes')
    dataset = dict(cfg.test_dataloader.dataset)
    transform_of = DATASETS.get(dataset.pop('type')).image_transform
    model.image_transform = transform_of(**dataset)
    num_classes = model.backbone.num_classes
    if classes is None and num_classes == ImageNetInfo().num_classes():
        info = ImageNetInfo()
        classes = [info.index_to_description(i) for i in range(num_classes)]
    model.classes = list(classes) if classes else [str(i) for i in range(num_classes)]
    model.cfg = cfg
    return model.to(device).eval()


def inference_classifier(model: torch.nn.Module, image: ImageLike, topk: int = 5) -> list[dict]:
    """The ``topk`` best classes of one image (a file, an RGB array HxWx3 or
    a PIL image), best first: ``dict(label, name, score)``."""
    if isinstance(image, str):
        image = Image.open(image)
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    inputs = model.image_transform(image)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[inputs], data_samples=None), False)
        scores = model(**data, mode='predict')[0]['pred_score']
    best = scores.topk(min(topk, scores.numel()))
    return [dict(label=int(i), name=model.classes[int(i)], score=float(s))
            for s, i in zip(best.values, best.indices)]
