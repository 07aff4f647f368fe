"""The check that an exported file computes what PyTorch computes, on real
images: the scikit-image photos that the detection set is made of (the
main job's photos), the main job's photo itself when the set is there, and
the first images of the config's own test set when it is on disk.

- a classifier or backbone: the largest absolute difference of any output
  value, at most 1e-4;
- a detector: the same detections. Each PyTorch box is matched (one to
  one, best score first) to an ONNX box of the same label with IoU >= 0.99
  and a score within 1e-3; the share matched is reported both ways.
"""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from .export import INPUT_NAME
from .loading import test_dataset_cfg
from .onnx_detector import DetectorInputs
from .runtimes import open_session

MAX_ABS_DIFFERENCE = 1e-4
MIN_IOU, MAX_SCORE_DIFFERENCE = 0.99, 1e-3
EQUALITY_PREFIX = 'onnxruntime against PyTorch:'  # the line tools/deployment/pytorch2onnx.py prints
MAIN_JOB_SET = 'data/fashion-det'  # the main job's detection set (its photo: val's first)


def photos() -> list:
    """(name, BGR array) of the real photos: the detection set's backgrounds."""
    from ..datasets.fashion_det import PHOTOS
    return [(name, np.ascontiguousarray(load()[..., :3][..., ::-1]))
            for name, load in PHOTOS.items()]


def test_images(cfg: Config, count: int) -> list:
    """(name, file) of the first ``count`` images of the config's test set
    and of the main job's set; none where they are not on disk."""
    import json
    found = []
    dataset = test_dataset_cfg(cfg)
    sets = [(dataset.get('data_root', ''), dataset.get('ann_file'),
             (dataset.get('data_prefix') or {}).get('img', ''))]
    sets.append((MAIN_JOB_SET, 'annotations/instances_val.json', 'val/'))
    for root, ann_file, prefix in sets:
        if not ann_file or not osp.isfile(osp.join(root, ann_file)):
            continue
        with open(osp.join(root, ann_file)) as f:
            images = json.load(f).get('images', [])[:count]
        found += [(osp.join(root, prefix, i['file_name']),) * 2 for i in images
                  if osp.isfile(osp.join(root, prefix, i['file_name']))]
    return list(dict(found).items())  # the main job's set may be the config's


def max_abs_difference(expected: list, actual: list) -> float:
    return max(float(np.abs(e - a).max()) for e, a in zip(expected, actual))


def match_share(reference: dict, other: dict) -> tuple:
    """(share of ``reference``'s boxes matched in ``other``, the matches'
    lowest IoU, their largest score difference). Each is ``dict(bboxes,
    scores, labels)`` of numpy arrays."""
    from mmdet.structures.bbox import bbox_overlaps
    count = len(reference['scores'])
    if count == 0:
        return 1.0, 1.0, 0.0
    ious = bbox_overlaps(torch.as_tensor(reference['bboxes']),
                         torch.as_tensor(other['bboxes'])).numpy()
    free = np.ones(len(other['scores']), bool)
    matched, lowest, largest = 0, 1.0, 0.0
    for i in np.argsort(-reference['scores']):
        fits = (free & (other['labels'] == reference['labels'][i]) & (ious[i] >= MIN_IOU)
                & (np.abs(other['scores'] - reference['scores'][i]) <= MAX_SCORE_DIFFERENCE))
        if fits.any():
            j = int(np.argmax(np.where(fits, ious[i], -1)))
            free[j] = False
            matched += 1
            lowest = min(lowest, float(ious[i, j]))
            largest = max(largest, float(abs(other['scores'][j] - reference['scores'][i])))
    return matched / count, lowest, largest


def check_detector(model: nn.Module, cfg: Config, onnx_file: str, meta: dict,
                   count: int = 4) -> dict:
    """The detections of ``model`` (PyTorch) and of ``onnx_file``
    (onnxruntime) above the score threshold on the photos and test images,
    each image padded to the exported size, as the graph sees it."""
    from mmdet.structures import DetDataSample
    session = open_session(onnx_file, 'onnxruntime')
    inputs = DetectorInputs(meta['test_pipeline'], meta['data_preprocessor'],
                            meta['input_shape'][2:])
    score_thr = model.bbox_head.test_cfg.get('score_thr', 0)
    h, w = meta['input_shape'][2:]
    totals = dict(images=0, torch_boxes=0, onnx_boxes=0, torch_matched=0, onnx_matched=0,
                  lowest_iou=1.0, largest_score_difference=0.0)
    for name, image in photos() + test_images(cfg, count):
        loaded = inputs.load(image)
        x = inputs.batch([loaded['inputs']], [loaded['data_samples']])
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), pad_shape=(h, w),
                                             batch_input_shape=(h, w), scale_factor=(1., 1.)))
        with torch.no_grad():
            pred = model.predict(x, [sample], rescale=False)[0].pred_instances
        ours = dict(bboxes=pred.bboxes.numpy(), scores=pred.scores.numpy(),
                    labels=pred.labels.numpy())
        dets, labels = session({INPUT_NAME: x.numpy()})
        found = labels[0] >= 0
        theirs = dict(bboxes=dets[0, found, :4], scores=dets[0, found, 4], labels=labels[0, found])
        ours, theirs = ({k: v[d['scores'] > score_thr] for k, v in d.items()} for d in (ours, theirs))
        forward = match_share(ours, theirs)
        backward = match_share(theirs, ours)
        totals['images'] += 1
        totals['torch_boxes'] += len(ours['scores'])
        totals['onnx_boxes'] += len(theirs['scores'])
        totals['torch_matched'] += round(forward[0] * len(ours['scores']))
        totals['onnx_matched'] += round(backward[0] * len(theirs['scores']))
        totals['lowest_iou'] = min(totals['lowest_iou'], forward[1])
        totals['largest_score_difference'] = max(totals['largest_score_difference'], forward[2])
    totals['torch_share'] = totals['torch_matched'] / max(totals['torch_boxes'], 1)
    totals['onnx_share'] = totals['onnx_matched'] / max(totals['onnx_boxes'], 1)
    totals['equal'] = totals['torch_share'] == 1 and totals['onnx_share'] == 1
    return totals


def check_tensors(model: nn.Module, cfg: Config, onnx_file: str, meta: dict,
                  count: int = 4) -> dict:
    """The largest absolute difference between ``model``'s outputs (logits,
    or feature maps) and ``onnx_file``'s in onnxruntime, on the photos and
    test images, preprocessed as the config's test data is."""
    session = open_session(onnx_file, 'onnxruntime')
    batches = []
    if meta['kind'] == 'classifier':
        from PIL import Image
        from mmengine.registry import DATASETS, MODELS
        dataset_cfg = dict(test_dataset_cfg(cfg))
        transform = DATASETS.get(dataset_cfg['type']).image_transform(
            **{k: v for k, v in dataset_cfg.items() if k != 'type'})
        preprocessor = MODELS.build(dict(cfg.model.get('data_preprocessor')
                                         or dict(type='ImgDataPreprocessor')))
        images = [transform(Image.fromarray(bgr[..., ::-1])) for _, bgr in photos()]
        try:
            dataset = DATASETS.build(dataset_cfg)
            images += [dataset[i]['inputs'] for i in range(min(count, len(dataset)))]
        except (OSError, ValueError):  # the test set is not on this machine
            pass
        for image in images:
            with torch.no_grad():
                batches.append(preprocessor(dict(inputs=[image]), False)['inputs'])
    else:
        inputs = DetectorInputs(meta['test_pipeline'], meta['data_preprocessor'],
                                meta['input_shape'][2:])
        for _, image in photos() + test_images(cfg, count):
            loaded = inputs.load(image)
            batches.append(inputs.batch([loaded['inputs']], [loaded['data_samples']]))
    largest = scale = 0.0
    net = getattr(model, 'backbone', model) if meta['kind'] == 'classifier' else model
    for x in batches:
        with torch.no_grad():
            expected = net(x)
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
        actual = session({INPUT_NAME: x.numpy()})
        largest = max(largest, max_abs_difference([e.numpy() for e in expected], actual))
        scale = max(scale, max(float(e.abs().max()) for e in expected))
    return dict(images=len(batches), max_abs_difference=largest, largest_output=scale,
                equal=largest <= MAX_ABS_DIFFERENCE)


def check_export(model: nn.Module, cfg: Config, onnx_file: str, meta: dict,
                 count: int = 4) -> dict:
    if meta['kind'] == 'detector':
        return check_detector(model, cfg, onnx_file, meta, count)
    return check_tensors(model, cfg, onnx_file, meta, count)


def describe(result: dict) -> str:
    """One line of a check's figures."""
    if 'max_abs_difference' in result:
        return (f'largest absolute difference {result["max_abs_difference"]:.2e} on '
                f'{result["images"]} images, outputs up to {result["largest_output"]:.3g} '
                f'(at most {MAX_ABS_DIFFERENCE:.0e}: '
                f'{"equal" if result["equal"] else "NOT equal"})')
    return (f'{result["torch_matched"]}/{result["torch_boxes"]} PyTorch boxes matched in ONNX, '
            f'{result["onnx_matched"]}/{result["onnx_boxes"]} ONNX boxes in PyTorch, on '
            f'{result["images"]} images (IoU >= {MIN_IOU}, lowest {result["lowest_iou"]:.4f}; '
            f'score within {MAX_SCORE_DIFFERENCE:.0e}, largest difference '
            f'{result["largest_score_difference"]:.1e}: '
            f'{"equal" if result["equal"] else "NOT equal"})')
