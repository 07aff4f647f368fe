"""Latency of RetinaNet with Cream backbones against mmdet's RetinaNet with
ResNet-50 and with MobileNetV2, in one run
(``tools/analysis_tools/benchmark_detectors.py``): a backbone is worth
searching only if the detector it makes is faster for its accuracy."""
from __future__ import annotations

import os.path as osp
from functools import partial
from typing import Callable, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.hub import get_config

from ..cost import detector_cost
from ..errors import ConfigError
from ..latency import EAGER, LatencyTable, pin_allocator, timed_in_turns
from .cost import build_detector

R50 = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
CREAM = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                 'retinanet', 'retinanet_cream-{size}_fpn_1x_coco.py')


def mobilenet_v2_retinanet() -> Config:
    """mmdet ships MobileNetV2 as a backbone but no RetinaNet config for it:
    R-50's config with mmdet's MobileNetV2, stride 8/16/32 outputs (32, 96 and
    1,280 channels), the same neck and head."""
    cfg = get_config(R50)
    cfg.model.backbone = dict(type='MobileNetV2', out_indices=(2, 4, 7))
    cfg.model.neck.update(in_channels=[32, 96, 1280], start_level=0)
    return cfg


def check_table(table: LatencyTable, size: Sequence[int]) -> None:
    """A table prices one input size, batch and device: this run's."""
    data = table.data
    if list(data['shape']) != list(size) or data['batch'] != 1:
        raise ConfigError(f'{table.source} prices batch {data["batch"]} at '
                          f'{data["shape"][0]}x{data["shape"][1]}; the detectors run batch 1 at '
                          f'{size[0]}x{size[1]}: measure one with latency_table.py --shape '
                          f'{size[0]} {size[1]}')
    if table.runtime != EAGER:
        raise ConfigError(f'{table.source} was measured in {table.runtime}; the backbones here '
                          'run in PyTorch eager: give a table of latency_table.py --backend torch')
    if data['device']['type'] != 'cpu' or not table.runs_here():
        raise ConfigError(f'{table.source} was measured on {table.device}; the detectors run '
                          'on this machine\'s CPU')


def benchmark_detectors(size: Sequence[int] = (640, 640), rounds: int = 5,
                        cream: Sequence[str] = ('cream-287',), table_file: Optional[str] = None,
                        log: Callable[[str], None] = print) -> dict:
    """Each detector (RetinaNet with each published Cream model of ``cream``,
    then R-50's and MobileNetV2's) runs one ``size`` image through backbone,
    neck and head without gradient, in turns (:func:`timed_in_turns`), for
    ``rounds`` rounds; logged: the medians, their ratios to the first and the
    FLOPs and parameters. With the latency table ``table_file`` (this
    machine, batch 1 at ``size``) each Cream backbone is also timed alone, at
    the table's thread count, against the table's prediction
    (:meth:`LatencyTable.backbone_ms`). Returns the figures."""
    table = None
    if table_file:
        table = LatencyTable.load(table_file)
        check_table(table, size)
    detectors = {f'RetinaNet-{n}': build_detector(
        Config.fromfile(CREAM.format(size=n.split('-')[1])).model) for n in cream}
    detectors['RetinaNet-R50'] = build_detector(get_config(R50).model)
    detectors['RetinaNet-MobileNetV2'] = build_detector(mobilenet_v2_retinanet().model)
    image = torch.randn(1, 3, *size)
    runs = {name: partial(detector._forward, image) for name, detector in detectors.items()}
    previous_threads = torch.get_num_threads()
    if table is not None:
        pin_allocator()  # as the table was measured
        torch.set_num_threads(table.data['device']['threads'])
        runs.update({f'{name} backbone': partial(detectors[name].backbone, image)
                     for name in detectors if name.startswith('RetinaNet-cream')})
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            times = timed_in_turns(runs, rounds)
    finally:
        torch.set_num_threads(previous_threads)
    reference = times[next(iter(detectors))]
    log(f'input {size[0]}x{size[1]}, batch 1, {threads} threads, median of {rounds} rounds')
    log(f'{"detector":<24}{"latency":>12}{"vs first":>10}{"GFLOPs":>9}{"params":>10}')
    result = dict(threads=threads, detectors={}, backbones={})
    for name, detector in detectors.items():
        row = dict(ms=times[name] * 1e3, ratio=times[name] / reference,
                   **detector_cost(detector, *size))
        result['detectors'][name] = row
        log(f'{name:<24}{row["ms"]:>9.0f} ms{row["ratio"]:>9.2f}x'
            f'{row["flops"] / 1e9:>9.2f}{row["params"] / 1e6:>9.2f}M')
    if table is not None:
        log(f'backbones alone, against the table ({table.device}):')
        log(f'{"backbone":<24}{"measured":>12}{"predicted":>12}{"error":>9}')
        for name, detector in detectors.items():
            if f'{name} backbone' in times:
                result['backbones'][name] = _against_table(
                    name, detector.backbone, times[f'{name} backbone'] * 1e3, table, log)
    return result


def _against_table(name: str, backbone, measured: float, table: LatencyTable, log) -> dict:
    """A backbone's measured milliseconds against the table's prediction,
    where the table can price it."""
    row = dict(measured_ms=measured, predicted_ms=None)
    if backbone.arch.space.name != table.data['space']:
        log(f'{name:<24}{measured:>9.1f} ms   not priced: the table is of space '
            f'{table.data["space"]!r}, the backbone of {backbone.arch.space.name!r}')
        return row
    try:
        row['predicted_ms'] = table.backbone_ms(backbone.arch.path(), backbone.out_indices)
    except ConfigError as err:  # an arch deeper than the table's supernet
        log(f'{name:<24}{measured:>9.1f} ms   not priced: {err}')
        return row
    log(f'{name:<24}{measured:>9.1f} ms{row["predicted_ms"]:>9.1f} ms'
        f'{100 * (row["predicted_ms"] - measured) / measured:>+8.1f}%')
    return row
