"""Detectors side by side in PyTorch eager and in the deployment runtimes
(``tools/analysis_tools/benchmark_detectors.py --backends``): RetinaNet with
published Cream backbones, with searched archs, with mmdet's MobileNetV2 and
ResNet-50, each exported once as the end-to-end graph a user deploys (box
decoding and NMS inside, :func:`~cream_det.deployment.export.export_onnx`)
and timed against mmdet's own ``predict`` (the same work in PyTorch).

All runs of one thread count take turns (:func:`rounds_in_turns`), so that a
slow spell of a shared machine falls on every detector and runtime alike; a
figure is the median of the rounds, with their min and max."""
from __future__ import annotations

import os
import os.path as osp
import statistics
from functools import partial
from typing import Callable, Sequence

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.hub import get_config

from ..archs import resolve_arch
from ..detection.benchmark import CREAM, R50, mobilenet_v2_retinanet
from ..detection.cost import build_detector
from ..errors import ConfigError
from ..latency import EAGER, pin_allocator, rounds_in_turns
from .export import export_onnx
from .latency import ALL_BACKENDS
from .runtimes import open_session, runtime_version


def detector_configs(cream: Sequence[str] = ('cream-287', 'cream-481'),
                     archs: Sequence[str] = ()) -> dict:
    """Name: model config of each detector compared. A searched arch (an
    arch file) goes into RetinaNet-Cream's COCO config in place of the
    published arch; its space must give the same channels (the Cream
    space's, whatever its depths)."""
    configs = {f'RetinaNet-{name}': Config.fromfile(CREAM.format(size=name.split('-')[1])).model
               for name in cream}
    for arch_file in archs:
        arch = resolve_arch(arch_file)
        if arch.space.name != 'cream':
            raise ConfigError(f'{arch_file}: an arch of space {arch.space.name!r}; RetinaNet-'
                              "Cream's config takes the Cream space's channels")
        model = Config.fromfile(CREAM.format(size='287')).model
        model.backbone.arch = arch_file
        configs[f'RetinaNet-{osp.splitext(osp.basename(arch_file))[0]}'] = model
    configs['RetinaNet-MobileNetV2'] = mobilenet_v2_retinanet().model
    configs['RetinaNet-R50'] = get_config(R50).model
    return configs


def eager_predict(detector: torch.nn.Module, image: torch.Tensor) -> list:
    """What PyTorch eager does for a deployed detector's call: mmdet's
    ``predict`` on a preprocessed image, boxes decoded and NMS'd, in the
    image's own frame (no rescale)."""
    size = tuple(image.shape[-2:])
    sample = DetDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size,
                                         batch_input_shape=size, scale_factor=(1., 1.)))
    return detector.predict(image, [sample], rescale=False)


def benchmark_detectors_in_runtimes(backends: Sequence[str] = ALL_BACKENDS,
                                    size: Sequence[int] = (640, 640), rounds: int = 5,
                                    threads: Sequence[int] = (1, 2),
                                    cream: Sequence[str] = ('cream-287', 'cream-481'),
                                    archs: Sequence[str] = (),
                                    work_dir: str = 'work_dirs/benchmark_detectors',
                                    log: Callable[[str], None] = print) -> dict:
    """Each detector of :func:`detector_configs` on one ``size`` image, batch
    1, in each of ``backends`` at each of ``threads``: logged as a table of
    milliseconds (median, min-max over ``rounds``) and each runtime's ratio
    to PyTorch eager; the ONNX files are written to ``work_dir``. Returns
    ``{threads: {detector: {backend: dict(ms, min_ms, max_ms, ratio)}}}``."""
    unknown = [b for b in backends if b not in ALL_BACKENDS]
    if unknown or EAGER not in backends:
        raise ConfigError(f'--backends {" ".join(backends)}: expected torch and any of '
                          f'{", ".join(ALL_BACKENDS[1:])} (ratios are to torch)')
    if rounds < 1 or not threads or min(threads) < 1:
        raise ConfigError(f'rounds={rounds}, threads={list(threads)}: expected at least 1 each')
    torch.manual_seed(0)  # the same random weights run after run
    detectors = {name: build_detector(model) for name, model in
                 detector_configs(cream, archs).items()}
    os.makedirs(work_dir, exist_ok=True)
    files = {}
    for name, detector in detectors.items():
        if any(b != EAGER for b in backends):
            files[name] = osp.join(work_dir, f'{name}.onnx')
            export_onnx(detector, files[name], (1, 3, *size))
    image = torch.randn(1, 3, *size)
    pin_allocator()
    versions = ', '.join(f'{b} {runtime_version(b)}' for b in backends if b != EAGER)
    log(f'input {size[0]}x{size[1]}, batch 1, median [min-max] of {rounds} rounds in turns; '
        f'torch {torch.__version__}{", " + versions if versions else ""}')
    result = {}
    previous_threads = torch.get_num_threads()
    try:
        for count in threads:
            torch.set_num_threads(count)
            runs = {}
            for name, detector in detectors.items():
                for backend in backends:
                    if backend == EAGER:
                        runs[name, backend] = partial(eager_predict, detector, image)
                    else:
                        session = open_session(files[name], backend, count)
                        runs[name, backend] = partial(
                            session, {session.input_names[0]: image.numpy()})
            with torch.no_grad():
                times = rounds_in_turns(runs, rounds)
            result[count] = _table(times, detectors, backends, count, log)
    finally:
        torch.set_num_threads(previous_threads)
    return result


def _table(times: dict, detectors: dict, backends: Sequence[str], threads: int,
           log: Callable[[str], None]) -> dict:
    """Log one thread count's figures; return them."""
    width = max(len(name) for name in detectors) + 2
    log(f'{threads} thread{"s" if threads != 1 else ""}:')
    log(f'{"detector":<{width}}' + ''.join(f'{b:>24}' for b in backends)
        + ''.join(f'{b + "/torch":>18}' for b in backends if b != EAGER))
    rows = {}
    for name in detectors:
        row = {}
        for backend in backends:
            ms = [t * 1e3 for t in times[name, backend]]
            row[backend] = dict(ms=statistics.median(ms), min_ms=min(ms), max_ms=max(ms))
        for backend in backends:
            row[backend]['ratio'] = row[backend]['ms'] / row[EAGER]['ms']
        rows[name] = row
        cells = ''.join(f'{r["ms"]:>9.1f} [{r["min_ms"]:.1f}-{r["max_ms"]:.1f}] ms'.rjust(24)
                        for r in row.values())
        ratios = ''.join(f'{row[b]["ratio"]:>17.2f}x' for b in backends if b != EAGER)
        log(f'{name:<{width}}{cells}{ratios}')
    return rows
