"""int8: static quantisation of an exported network with onnxruntime's
quantiser, calibrated on real training images of its config, and its
accuracy and latency against the float32 file
(``tools/deployment/quantize.py``).

The quantiser's own choices are kept where they are its defaults (QDQ
format, int8 activations and weights, min-max calibration); the weights are
quantised per output channel: depthwise networks with SE lose badly under
per-tensor weights (MobileNetV3: 54 % against 69 % top-1, onnxruntime
#11415). They are quantised to 7 bits (onnxruntime's ``reduce_range``): on
x86 CPUs without VNNI its int8 kernels add pairs of 8-bit products into 16
bits, which saturate for 8-bit weights (2 x 255 x 127 > 32767) and not for
7-bit ones (2 x 255 x 64); a file is written once and may run on either
kind of CPU. Only the network is quantised: what runs after its last weighted
layer (a detector's score activation, box decoding and NMS) stays in float,
since int8 box coordinates would move boxes by pixels.
"""
from __future__ import annotations

import os
import os.path as osp
import statistics
import tempfile
from typing import Callable

import numpy as np
import torch
from mmengine.config import Config

from ..errors import ConfigError
from .evaluation import evaluate_onnx
from .export import INPUT_NAME, read_metadata
from .loading import check_fits
from .onnx_detector import DetectorInputs
from .runtimes import BACKENDS, _import, open_session, runtime_version

WEIGHT_OPS = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')
ACCURACY_KEYS = dict(classifier='accuracy/top1', detector='coco/bbox_mAP')


def calibration_inputs(cfg: Config, onnx_file: str, images: int = 100,
                       seed: int = 0) -> list:
    """``images`` training images of ``cfg`` (spread evenly over its train
    set, augmented by its train pipeline as training saw them, seeded),
    preprocessed by its model's data preprocessor and fitted to the graph's
    input as a deployed call fits them: a list of arrays of its input shape."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, MODELS, init_default_scope
    from mmengine.runner import set_random_seed
    meta = read_metadata(onnx_file)
    check_fits(meta, cfg, onnx_file)
    if images < 1:
        raise ConfigError(f'--images {images}: expected at least 1')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    set_random_seed(seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch, *_, height, width = meta['input_shape']
    preprocessor = cfg.model.get('data_preprocessor') or dict(type='ImgDataPreprocessor')
    if 'test_pipeline' in meta:  # a detector, or a detector's backbone
        fit = DetectorInputs(meta['test_pipeline'], preprocessor, (height, width)).batch
    else:
        fit = partial_preprocessor(MODELS.build(dict(preprocessor)).eval(), (height, width),
                                   onnx_file)
    indices = np.linspace(0, len(dataset) - 1, images * batch).round().astype(int)
    inputs = []
    for start in range(0, len(indices), batch):
        items = pseudo_collate([dataset[int(i)] for i in indices[start:start + batch]])
        inputs.append(fit(items['inputs'], items['data_samples']).numpy())
    return inputs


def partial_preprocessor(preprocessor, input_hw, onnx_file: str) -> Callable:
    """A classifier's images through its data preprocessor, which must give
    the graph's input size."""
    def fit(inputs, data_samples):
        with torch.no_grad():
            x = preprocessor(dict(inputs=list(inputs)), False)['inputs']
        if tuple(x.shape[-2:]) != tuple(input_hw):
            raise ConfigError(f'the config\'s training images are {x.shape[-2]}x{x.shape[-1]}; '
                              f'ONNX file {onnx_file} takes {input_hw[0]}x{input_hw[1]}')
        return x
    return fit


def float_tail(model) -> list:
    """The names of the nodes of an ONNX ``model`` that feed no weighted
    layer, not even through others: what runs after the network (a
    classifier has none after its last Gemm; a detector its post-processing)."""
    weighted = [n for n in model.graph.node if n.op_type in WEIGHT_OPS]
    producer = {out: n for n in model.graph.node for out in n.output}
    network, todo = set(), list(weighted)
    while todo:
        node = todo.pop()
        if node.name in network:
            continue
        network.add(node.name)
        todo += [producer[i] for i in node.input if i in producer]
    return [n.name for n in model.graph.node if n.name not in network]


def quantize_onnx(onnx_file: str, cfg: Config, out_file: str, images: int = 100,
                  seed: int = 0) -> str:
    """Write ``onnx_file`` quantised to int8 to ``out_file``, calibrated on
    :func:`calibration_inputs`; its metadata is kept, with how it was
    quantised added. Returns ``out_file``."""
    onnx = _import('onnx')
    _import('onnxruntime')
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    inputs = calibration_inputs(cfg, onnx_file, images, seed)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(inputs)

        def get_next(self):
            return {INPUT_NAME: x} if (x := next(self.batches, None)) is not None else None

    with tempfile.TemporaryDirectory() as tmp:
        prepared = osp.join(tmp, 'prepared.onnx')
        # onnxruntime's advice before quantising: its graph optimisations
        # and ONNX shape inference (symbolic inference is for transformers).
        quant_pre_process(onnx_file, prepared, skip_symbolic_shape=True)
        tail = float_tail(onnx.load(prepared))
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        quantize_static(prepared, out_file, Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=tail)
    model = onnx.load(out_file)
    kept = {p.key: p.value for p in onnx.load(onnx_file, load_external_data=False).metadata_props}
    kept['quantized'] = (f'"int8 QDQ, 7-bit weights per channel, min-max calibration on {images} '
                         f'training images (seed {seed}), onnxruntime '
                         f'{runtime_version("onnxruntime")}, {len(tail)} nodes after the '
                         'network in float"')
    del model.metadata_props[:]
    for key, value in kept.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, out_file)
    return out_file


def compare_int8(cfg: Config, fp32_file: str, int8_file: str, threads: int = 1,
                 rounds: int = 20, repeats: int = 10, warmup: int = 5, accuracy: bool = True,
                 log: Callable[[str], None] = print) -> dict:
    """One table of the float32 and int8 files: size, the config's test
    metric (top-1 or bbox mAP, :func:`~.evaluation.evaluate_onnx` in
    onnxruntime), and latency in each runtime at ``threads`` threads (the
    median, min and max of ``rounds`` rounds in turns, each the median of
    ``repeats`` calls; none with ``rounds=0``). Returns the figures."""
    from ..latency import latency_rounds
    kind = read_metadata(fp32_file)['kind']
    files = dict(float32=fp32_file, int8=int8_file)
    rows = {name: dict(file=f, mb=osp.getsize(f) / 2 ** 20) for name, f in files.items()}
    if accuracy:
        key = ACCURACY_KEYS[kind]
        for name, f in files.items():
            metrics = evaluate_onnx(cfg, f, 'onnxruntime', threads)
            # CocoMetric returns nothing for a set without a single detection: mAP 0.
            rows[name][key] = metrics[key] if metrics else 0.
    if rounds:
        shape = read_metadata(fp32_file)['input_shape']
        x = {INPUT_NAME: np.random.default_rng(0).standard_normal(shape, np.float32)}
        calls = {(name, b): open_session(f, b, threads) for name, f in files.items()
                 for b in BACKENDS}
        times = latency_rounds([lambda s=s: s(x) for s in calls.values()], rounds, repeats,
                               warmup)
        for (name, backend), ms in zip(calls, times):
            rows[name][backend] = dict(ms=statistics.median(ms), min_ms=min(ms), max_ms=max(ms))
    _log_table(rows, kind, threads, rounds, log)
    return rows


def _log_table(rows: dict, kind: str, threads: int, rounds: int, log) -> None:
    key = ACCURACY_KEYS[kind]
    header = f'{"":<9}{"size":>10}'
    if key in rows['float32']:
        header += f'{key:>16}'
    if rounds:
        header += ''.join(f'{b + " (ms)":>26}' for b in BACKENDS)
        log(f'latency at {threads} thread{"s" if threads != 1 else ""}: median [min-max] of '
            f'{rounds} rounds in turns')
    log(header)
    for name, row in rows.items():
        line = f'{name:<9}{row["mb"]:>7.2f} MB'
        if key in row:
            line += f'{row[key]:>16.3f}' if kind == 'detector' else f'{row[key]:>15.2f}%'
        if rounds:
            line += ''.join(f'{row[b]["ms"]:.3f} [{row[b]["min_ms"]:.3f}-{row[b]["max_ms"]:.3f}]'
                            .rjust(26) for b in BACKENDS)
        log(line)
