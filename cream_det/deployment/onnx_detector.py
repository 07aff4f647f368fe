"""A detector exported by :mod:`.export`, run in onnxruntime or OpenVINO, in
mmdet's terms: images in, :class:`~mmdet.structures.DetDataSample` out (with
``pred_instances.bboxes / scores / labels`` in the original image's
pixels), so that mmdet's visualiser and ``CocoMetric`` take its results as
they take PyTorch's.

Everything it needs comes from the file's metadata: the config's test
pipeline (resizing as in PyTorch), the data preprocessor (pixel mean and
std, channel order, padding) and the class names.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

from ..errors import ConfigError
from .export import INPUT_NAME, read_metadata
from .runtimes import open_session

ImageLike = Union[str, np.ndarray]  # a file, or a BGR array as mmcv reads one


class DetectorInputs:
    """Images as the exported graph takes them: the config's test pipeline
    (without its annotations), the data preprocessor, then zeros padded to
    the graph's fixed input size (mmdet pads with zeros after normalising too)."""

    def __init__(self, test_pipeline: Sequence[dict], data_preprocessor: dict,
                 input_hw: Sequence[int]):
        from mmcv.transforms import Compose
        from mmengine.registry import init_default_scope
        from mmdet.registry import MODELS
        init_default_scope('mmdet')
        steps = [_tuples(t) for t in test_pipeline
                 if t['type'].split('.')[-1] != 'LoadAnnotations']
        self.from_file = Compose(steps)
        self.from_array = Compose([dict(steps[0], type='mmdet.LoadImageFromNDArray'), *steps[1:]])
        self.preprocessor = MODELS.build(dict(data_preprocessor)).eval()
        self.height, self.width = map(int, input_hw)

    def load(self, image: ImageLike) -> dict:
        """One image through the test pipeline: ``dict(inputs, data_samples)``."""
        if isinstance(image, str):
            return self.from_file(dict(img_path=image, img_id=0))
        return self.from_array(dict(img=image, img_id=0))

    def batch(self, inputs: Sequence[torch.Tensor], data_samples: Sequence) -> torch.Tensor:
        """Packed images (the pipeline's ``inputs``) as one normalised batch
        of the graph's size."""
        with torch.no_grad():
            data = self.preprocessor(dict(inputs=list(inputs), data_samples=list(data_samples)),
                                     False)
        x = data['inputs']
        h, w = x.shape[-2:]
        if h > self.height or w > self.width:
            raise ConfigError(f'an image resized to {h}x{w} by the test pipeline does not fit '
                              f'the exported input {self.height}x{self.width}: export with '
                              f'--shape {h} {w} or larger')
        return torch.nn.functional.pad(x, (0, self.width - w, 0, self.height - h))


class OnnxDetector:
    """``OnnxDetector(file, backend='onnxruntime', threads=1)``: call it on
    an image or a list of them (files or BGR arrays) for a list of
    DetDataSamples; :meth:`predict` takes a batch from the config's test
    dataloader as mmdet's ``test_step`` does."""

    def __init__(self, file: str, backend: str = 'onnxruntime', threads: int = 1):
        self.meta = read_metadata(file)
        if self.meta.get('kind') != 'detector':
            raise ConfigError(f'ONNX file {file} holds a {self.meta.get("kind", "graph")} '
                              "(its metadata's kind), not a detector exported by "
                              'tools/deployment/pytorch2onnx.py')
        self.session = open_session(file, backend, threads)
        self.batch_size = None if self.meta['dynamic_batch'] else self.meta['input_shape'][0]
        self.inputs = DetectorInputs(self.meta['test_pipeline'], self.meta['data_preprocessor'],
                                     self.meta['input_shape'][2:])
        self.dataset_meta = dict(classes=tuple(self.meta['classes']))
        if self.meta.get('palette'):
            self.dataset_meta['palette'] = [tuple(c) for c in self.meta['palette']]

    def __call__(self, images: Union[ImageLike, Sequence[ImageLike]]) -> list:
        single = isinstance(images, (str, np.ndarray))
        loaded = [self.inputs.load(image) for image in ([images] if single else images)]
        return self.predict([d['inputs'] for d in loaded], [d['data_samples'] for d in loaded])

    def predict(self, inputs: Sequence[torch.Tensor], data_samples: Sequence) -> list:
        """Detections for packed images and their data samples (which gain
        ``pred_instances``), boxes in the original images' pixels."""
        step = self.batch_size or len(inputs)
        for start in range(0, len(inputs), step):
            samples = data_samples[start:start + step]
            x = self.inputs.batch(inputs[start:start + step], samples)
            if len(samples) < step:  # a fixed batch: the last one filled up
                x = torch.cat([x, x[-1:].expand(step - len(samples), -1, -1, -1)])
            dets, labels = self.session({INPUT_NAME: x.numpy()})
            for sample, image_dets, image_labels in zip(samples, dets, labels):
                sample.pred_instances = self.instances(image_dets, image_labels, sample.metainfo)
        return list(data_samples)

    @staticmethod
    def instances(dets: np.ndarray, labels: np.ndarray, metainfo: dict):
        """One image's graph outputs as mmdet's InstanceData: rows with a
        label, boxes clipped to the resized image (the graph clips to the
        padded input) and scaled back to the original image, as mmdet's
        ``rescale=True``."""
        from mmengine.structures import InstanceData
        found = labels >= 0
        boxes = torch.from_numpy(dets[found, :4].copy())
        h, w = metainfo['img_shape'][:2]
        boxes = torch.min(boxes.clamp(min=0), boxes.new_tensor([w, h, w, h]))
        boxes /= boxes.new_tensor(metainfo['scale_factor']).repeat(2)
        return InstanceData(bboxes=boxes, scores=torch.from_numpy(dets[found, 4].copy()),
                            labels=torch.from_numpy(labels[found].astype(np.int64)))


def _tuples(value):
    """A transform config as the config file wrote it: JSON (the metadata)
    turned its tuples (``scale``, ``meta_keys``) into lists, which mmcv's
    transforms refuse; lists of transforms stay lists."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_tuples(v) for v in value]
        return items if any(isinstance(v, dict) for v in items) else tuple(items)
    return value
