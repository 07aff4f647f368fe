"""The device check (``tools/misc/gpu_check.py``): on one machine, what our
users' GPU path costs and whether it runs.

- the environment: the device, CUDA, torch, mmcv and whether mmcv has its
  CUDA ops (:mod:`cream_det.mmcv_ops`);
- the search step of the paper's search config (SPOS, the floor and Cream
  with a full board; :func:`~cream_det.experiments.search_step.search_step_figures`)
  in fp32, under AMP (bf16 where the GPU has it) and with channels_last:
  images/s, peak memory and the ratios Cream/SPOS and Cream/floor;
- latency: a table of the device against seeded children timed whole
  (:func:`~cream_det.latency.benchmark_latency_table`), and the same under
  CUDA graphs, which take the launch overhead out of the path-to-path
  differences: Kendall's tau and MAPE for both;
- detectors: training iterations of the embedded RetinaNet and of FCOS, and
  one iteration of the COCO RetinaNet, on generated images: the loss,
  whether it is finite, seconds per iteration. Where mmcv lacks CUDA ops on
  a GPU, the run-time stop's message is recorded instead of a crash.

``quick`` runs every part on tiny settings, so that the script runs end to
end on the CPU (and in CI): its figures mean nothing.
"""
from __future__ import annotations

import copy
import datetime
import json
import logging
import math
import os
import os.path as osp
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Optional

import mmcv
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper

from ..detection.cost import build_detector
from ..errors import ConfigError, CreamError
from ..latency import (LatencyTable, benchmark_latency_table, build_latency_table, device_info,
                       search_supernet)
from ..mmcv_ops import missing_cuda_ops, mmcv_cuda_ops
from .search_step import search_step_figures

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
SEARCH_CONFIG = osp.join(CONFIGS, 'cream', 'cream-search_0-600_8xb128_in1k.py')
EMBEDDED_RETINANET = osp.join(CONFIGS, 'retinanet', 'retinanet_cream-searched_fpn_fashion-det.py')
COCO_RETINANET = osp.join(CONFIGS, 'retinanet', 'retinanet_cream-287_fpn_1x_coco.py')
COCO_FCOS = osp.join(CONFIGS, 'fcos', 'fcos_cream-287_fpn_gn-head_1x_coco.py')
# The embedded default's arch where a config takes its arch from a checkpoint
# (configs/cream/cream_fashion-mnist.py trains it): the check loads no weights.
STAND_IN_ARCH = 'cream-14'
CREAM_FLOOR_GOAL = 1.1  # the CPU benchmark's goal (docs/en/benchmarks.md)
TAU_GOAL = 0.6  # a table that orders the paths this well is worth building that way
NOT_ON_CPU = 'not applicable: CUDA graphs need a CUDA device'

# What the check runs: at the config's settings on a GPU, or tiny (quick).
SETTINGS = dict(
    full=dict(search_batch=128, search_steps=5, supernet={},
              latency_batch=32, table_repeats=20, table_warmup=10, table_rounds=3,
              children=30, child_rounds=3, child_repeats=10, child_warmup=10,
              det_iters=20, det_size=(160, 160), det_batch=8,
              coco_size=(800, 1333), coco_batch=2),
    quick=dict(search_batch=4, search_steps=1,
               supernet=dict(space='cream', budget=None, depths=[1, 1, 1, 1, 1],
                             resolution=32, num_classes=1000),
               latency_batch=1, table_repeats=2, table_warmup=1, table_rounds=1,
               children=3, child_rounds=1, child_repeats=2, child_warmup=1,
               det_iters=2, det_size=(64, 64), det_batch=2,
               coco_size=(64, 64), coco_batch=1))


def run_gpu_check(out_dir: str, device: str = 'cuda', quick: bool = False,
                  log: Callable[[str], None] = print) -> dict:
    """Run every part on ``device``; write ``gpu_check.json`` and
    ``gpu_check.md`` into ``out_dir`` and return what the json holds."""
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f'--device {device}: this machine has no CUDA GPU (torch '
                          f'{torch.__version__} sees none); run with --device cpu --quick')
    os.makedirs(out_dir, exist_ok=True)
    settings = SETTINGS['quick' if quick else 'full']
    start = time.perf_counter()
    result = dict(date=datetime.date.today().isoformat(), quick=quick, settings=settings,
                  environment=environment(device))
    log(f'environment: {result["environment"]}')
    parts = dict(search_step=lambda: search_step_rows(device, settings, log),
                 latency=lambda: latency_check(device, settings, out_dir, log),
                 detectors=lambda: detector_rows(device, settings, log, missing_cuda_ops(
                     torch.device(device).type, True, result['environment']['mmcv_cuda_ops'])))
    result['part_seconds'] = {}
    for name, part in parts.items():
        part_start = time.perf_counter()
        result[name] = part()
        result['part_seconds'][name] = time.perf_counter() - part_start
    result['seconds'] = time.perf_counter() - start
    with open(osp.join(out_dir, 'gpu_check.json'), 'w') as f:
        json.dump(result, f, indent=1)
    with open(osp.join(out_dir, 'gpu_check.md'), 'w') as f:
        f.write(markdown(result))
    log(f'wrote {osp.join(out_dir, "gpu_check.json")} and gpu_check.md '
        f'in {result["seconds"]:.0f} s')
    return result


def environment(device: str) -> dict:
    """What the figures depend on: :func:`~cream_det.latency.device_info`,
    torch's CUDA (also of a CUDA build on the CPU), mmcv and its ops, and
    whether the GPU computes in bf16."""
    info = device_info(device)
    cuda = info['type'] == 'cuda'
    return dict(info, device=info['gpu'] if cuda else info['cpu'],
                cuda=torch.version.cuda, mmcv=mmcv.__version__,
                mmcv_cuda_ops=mmcv_cuda_ops(),
                bf16=torch.cuda.is_bf16_supported() if cuda else None)


def amp_dtype(device: str) -> Optional[str]:
    """The AMP dtype of ``device``: bf16 where the GPU has it, else fp16;
    None on the CPU, where mmengine's AmpOptimWrapper does not run."""
    if torch.device(device).type != 'cuda':
        return None
    return 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'


def search_step_rows(device: str, settings: dict, log: Callable[[str], None]) -> list:
    """One row per variant (fp32, AMP, each without and with channels_last)
    at the config's batch: images/s, peak memory and the ratios."""
    supernet = Config.fromfile(SEARCH_CONFIG).model.supernet.to_dict()
    supernet.update(settings['supernet'])
    budget = supernet.pop('budget', None)
    batch = settings['search_batch']
    amp = amp_dtype(device)
    rows = []
    for precision in ('fp32', 'amp'):
        for channels_last in (False, True):
            row = dict(precision=precision if precision == 'fp32' else amp or 'amp',
                       channels_last=channels_last, batch=batch)
            rows.append(row)
            if precision == 'amp' and amp is None:
                row['note'] = ("not applicable: mmengine's AmpOptimWrapper (--amp) trains on "
                               'a GPU only')
                continue
            figures = search_step_figures(
                [batch], settings['search_steps'], budget, log=log, device=device,
                amp=amp if precision == 'amp' else None, channels_last=channels_last,
                **supernet)[batch]
            seconds = figures['seconds']
            row.update(images_per_s={k: batch / s for k, s in seconds.items()},
                       peak_bytes=figures['peak_bytes'],
                       cream_spos=seconds['Cream'] / seconds['SPOS'],
                       cream_floor=seconds['Cream'] / seconds['floor'])
            row['meets_goal'] = row['cream_floor'] <= CREAM_FLOOR_GOAL
    return rows


class CudaGraphs:
    """Runs a module as one replay of a CUDA graph captured of it
    (``torch.cuda.graphs``): no kernel is launched one by one, so what is
    timed is the GPU's work. A runner of :mod:`cream_det.latency`: called
    with a module and its input, it returns the call to time; ``info`` goes
    into the table."""

    def __init__(self):
        self.info = dict(runtime='cuda-graphs', runtime_version=torch.version.cuda,
                         threads=torch.get_num_threads())

    def __call__(self, module: torch.nn.Module, x: torch.Tensor) -> Callable[[], torch.Tensor]:
        static_input = x.clone()
        # torch's recipe: warm up on a side stream before capturing
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                module(static_input)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = module(static_input)

        def replay() -> torch.Tensor:
            graph.replay()
            return static_output
        return replay


def latency_check(device: str, settings: dict, out_dir: str,
                  log: Callable[[str], None]) -> dict:
    """The table's prediction against children timed whole, eagerly and,
    on a GPU, under CUDA graphs: Kendall's tau and MAPE of each."""
    cfg = Config.fromfile(SEARCH_CONFIG)
    if settings['supernet']:
        cfg.model.supernet = settings['supernet']
    supernet = search_supernet(cfg)
    result = {}
    for mode in ('eager', 'cuda_graphs'):
        if mode == 'cuda_graphs' and torch.device(device).type != 'cuda':
            result[mode] = dict(note=NOT_ON_CPU)
            continue
        runner = {'runner': CudaGraphs()} if mode == 'cuda_graphs' else {}
        table_file = osp.join(out_dir, f'latency_table_{mode}.json')
        log(f'latency ({mode}): a table at batch {settings["latency_batch"]}, then '
            f'{settings["children"]} children timed whole')
        try:
            table = build_latency_table(
                supernet, device, batch=settings['latency_batch'],
                repeats=settings['table_repeats'], warmup=settings['table_warmup'],
                rounds=settings['table_rounds'], progress=False, **runner)
            LatencyTable.from_dict(table).save(table_file)
            figures = benchmark_latency_table(
                cfg, table_file, settings['children'], seed=0, rounds=settings['child_rounds'],
                repeats=settings['child_repeats'], warmup=settings['child_warmup'], log=log,
                **runner)
        except CreamError as err:
            result[mode] = dict(note=f'not measured: {err}')
            continue
        result[mode] = dict(batch=settings['latency_batch'], children=settings['children'],
                            kendall_tau=figures['kendall_tau'], mape_plain=figures['plain'][0],
                            mape=figures['corrected'][0], table=osp.basename(table_file))
        result[mode]['orders_paths'] = figures['kendall_tau'] >= TAU_GOAL
    return result


def _embedded_fcos(embedded: dict) -> dict:
    """FCOS at the embedded RetinaNet's sizes: the COCO FCOS config's model
    with its classes, neck and head as small as the embedded detector's."""
    model = copy.deepcopy(Config.fromfile(COCO_FCOS).model)
    head = embedded['bbox_head']
    model.backbone = copy.deepcopy(embedded['backbone'])
    model.data_preprocessor = copy.deepcopy(embedded['data_preprocessor'])
    model.neck.out_channels = embedded['neck']['out_channels']
    model.bbox_head.update(num_classes=head['num_classes'], in_channels=head['in_channels'],
                           feat_channels=head['feat_channels'],
                           stacked_convs=head['stacked_convs'])
    return model


def detector_models(settings: dict) -> list:
    """(name, the model's config, iterations, image size, batch) of each
    detector the check trains."""
    embedded = Config.fromfile(EMBEDDED_RETINANET).model
    coco = Config.fromfile(COCO_RETINANET).model
    size, batch, iters = settings['det_size'], settings['det_batch'], settings['det_iters']
    return [('RetinaNet, embedded', embedded, EMBEDDED_RETINANET, iters, size, batch),
            ('FCOS, embedded sizes', _embedded_fcos(embedded), COCO_FCOS, iters, size, batch),
            ('RetinaNet, COCO config', coco, COCO_RETINANET, 1, settings['coco_size'],
             settings['coco_batch'])]


def train_detector(model_cfg: dict, optim_cfg: dict, device: str, iters: int, size,
                   batch: int) -> dict:
    """``iters`` training steps of the detector (its config's optimiser) on
    one generated batch, then one prediction (mmcv's nms): the losses and
    seconds per step, each timed to the device's end of it."""
    model_cfg = copy.deepcopy(model_cfg)
    if model_cfg['backbone'].get('arch', STAND_IN_ARCH) is None:
        model_cfg['backbone']['arch'] = STAND_IN_ARCH
    torch.manual_seed(0)
    detector = build_detector(model_cfg)
    with _mmengine_quiet():  # both log a line per parameter
        detector.init_weights()  # as the runner does: the heads' prior-probability biases
        optim_wrapper = build_optim_wrapper(detector.to(device), copy.deepcopy(optim_cfg))
    detector.train()
    # mmdet's own generated batch: random uint8 images, 1-9 random boxes each
    data = demo_mm_inputs(batch, (3, *size), num_classes=model_cfg['bbox_head']['num_classes'])
    cuda = torch.device(device).type == 'cuda'
    losses, seconds = [], []
    for _ in range(iters):
        start = time.perf_counter()
        log_vars = detector.train_step(data, optim_wrapper)
        if cuda:
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
        losses.append(float(log_vars['loss'].detach()))
    detector.eval()
    with torch.no_grad():
        predictions = detector.test_step(data)
    return dict(losses=losses, finite=all(math.isfinite(v) for v in losses),
                seconds_per_iter=statistics.median(seconds[1:] or seconds),
                first_iter_s=seconds[0],
                predicted_boxes=sum(len(p.pred_instances) for p in predictions))


@contextmanager
def _mmengine_quiet():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def detector_rows(device: str, settings: dict, log: Callable[[str], None],
                  stop: Optional[str] = None) -> list:
    """A row per detector: its training figures or, where the tools would stop
    (``stop``, :func:`~cream_det.mmcv_ops.missing_cuda_ops`), that message."""
    rows = []
    for name, model_cfg, config, iters, size, batch in detector_models(settings):
        row = dict(detector=name, config=osp.relpath(config, osp.join(CONFIGS, '..')),
                   iters=iters, size=list(size), batch=batch)
        if stop:
            row['note'] = stop
        else:
            row.update(train_detector(model_cfg, Config.fromfile(config).optim_wrapper, device,
                                      iters, size, batch))
        log(f'{name}: ' + (row.get('note') or f'loss {row["losses"][0]:.3f} -> '
                           f'{row["losses"][-1]:.3f}, {row["seconds_per_iter"]:.3f} s/iter'))
        rows.append(row)
    return rows


def _table(header: list, rows: list) -> list:
    """Markdown lines of a table; a row shorter than the header (a note in
    place of figures) is padded."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return lines + ['| ' + ' | '.join(map(str, row + [''] * (len(header) - len(row)))) + ' |'
                    for row in rows]


def _search_cells(row: dict) -> list:
    cells = [row['precision'], row['channels_last'], row['batch']]
    if 'note' in row:
        return cells + [row['note']]
    ips, peak = row['images_per_s'], row['peak_bytes']
    return cells + [f'{ips[kind]:.1f}' for kind in ('Cream', 'SPOS', 'floor')] + [
        f'{row["cream_spos"]:.2f}', f'{row["cream_floor"]:.2f}',
        'n/a (CPU)' if peak is None else f'{peak["Cream"] / 2 ** 30:.2f}']


def _latency_cells(mode: str, row: dict) -> list:
    if 'note' in row:
        return [mode, row['note']]
    return [mode, row['batch'], row['children'], f'{row["kendall_tau"]:.2f}',
            f'{row["mape_plain"]:.1f}', f'{row["mape"]:.1f}']


def _detector_cells(row: dict) -> list:
    cells = [row['detector'], row['iters'], f'{row["batch"]} x {row["size"][0]}x{row["size"][1]}']
    if 'note' in row:
        return cells + [row['note']]
    return cells + [f'{row["losses"][0]:.3f} -> {row["losses"][-1]:.3f}', row['finite'],
                    f'{row["seconds_per_iter"]:.3f}']


def markdown(result: dict) -> str:
    """The short report: the environment, then a table per part."""
    env = result['environment']
    quick = ' (quick: tiny settings, figures meaningless)' if result['quick'] else ''
    keys = ('device', 'type', 'torch', 'cuda', 'mmcv', 'mmcv_cuda_ops', 'bf16', 'threads')
    parts = ', '.join(f'{name} {s:.0f} s' for name, s in result['part_seconds'].items())
    return '\n'.join(
        [f'# GPU check: {env["device"]}, {result["date"]}{quick}', '']
        + _table(['environment', ''], [[key, env[key]] for key in keys if key in env])
        + ['', f'Search step ({osp.basename(SEARCH_CONFIG)}, images/s; goal Cream/floor '
           f'<= {CREAM_FLOOR_GOAL}):', '']
        + _table(['precision', 'channels_last', 'batch', 'Cream', 'SPOS', 'floor', 'Cream/SPOS',
                  'Cream/floor', 'peak memory Cream (GiB)'],
                 [_search_cells(row) for row in result['search_step']])
        + ['', 'Latency table against children timed whole:', '']
        + _table(['mode', 'batch', 'children', 'Kendall tau', 'MAPE plain sum (%)', 'MAPE (%)'],
                 [_latency_cells(mode, row) for mode, row in result['latency'].items()])
        + ['', 'Detectors, training on generated images:', '']
        + _table(['detector', 'iterations', 'input', 'loss first -> last', 'finite', 's/iter'],
                 [_detector_cells(row) for row in result['detectors']])
        + ['', f'{result["seconds"]:.0f} s in all ({parts}).', ''])
