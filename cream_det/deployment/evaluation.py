"""An exported file evaluated on its config's test set, in a runtime: a
detector with the config's evaluator (mmdet's CocoMetric), fed by the
config's test dataloader as ``tools/test.py`` is, so that the two mAPs
compare; a classifier by its top-1 accuracy."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.config import Config

from ..errors import ConfigError
from .export import INPUT_NAME, read_metadata
from .loading import check_fits
from .onnx_detector import OnnxDetector
from .runtimes import open_session


def evaluate_onnx(cfg: Config, onnx_file: str, backend: str = 'onnxruntime',
                  threads: int = 1) -> dict:
    """The config's test metrics of ``onnx_file`` run in ``backend``:
    CocoMetric's (``coco/bbox_mAP`` ...) for a detector, ``accuracy/top1``
    (a percentage, as TopKAccuracy reports it) for a classifier."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    meta = read_metadata(onnx_file)
    check_fits(meta, cfg, onnx_file)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    loader = Runner.build_dataloader(cfg.test_dataloader)
    if meta['kind'] == 'detector':
        return _evaluate_detector(cfg, onnx_file, backend, threads, loader)
    if meta['kind'] == 'classifier':
        return _evaluate_classifier(cfg, onnx_file, meta, backend, threads, loader)
    raise ConfigError(f'ONNX file {onnx_file} holds a backbone: it has no test metric')


def _evaluate_detector(cfg, onnx_file, backend, threads, loader) -> dict:
    from mmengine.evaluator import Evaluator
    detector = OnnxDetector(onnx_file, backend, threads)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = loader.dataset.metainfo
    for batch in loader:
        results = detector.predict(batch['inputs'], batch['data_samples'])
        evaluator.process(data_samples=results, data_batch=batch)
    return evaluator.evaluate(len(loader.dataset))


def _evaluate_classifier(cfg, onnx_file, meta, backend, threads, loader) -> dict:
    from mmengine.registry import MODELS
    session = open_session(onnx_file, backend, threads)
    preprocessor = MODELS.build(dict(cfg.model.get('data_preprocessor')
                                     or dict(type='ImgDataPreprocessor')))
    correct = total = 0
    for batch in loader:
        with torch.no_grad():
            x = preprocessor(dict(inputs=batch['inputs']), False)['inputs'].numpy()
        labels = np.asarray(batch['data_samples'])
        step = len(x) if meta['dynamic_batch'] else meta['input_shape'][0]
        for start in range(0, len(x), step):
            chunk = x[start:start + step]
            if len(chunk) < step:  # a fixed batch: the last one filled up
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), 0)])
            logits = session({INPUT_NAME: chunk})[0][:len(x[start:start + step])]
            correct += int((logits.argmax(1) == labels[start:start + step]).sum())
            total += len(logits)
    return {'accuracy/top1': 100. * correct / total}
