"""Does the detection-aware search pay? Within one FLOPs band: the
classification search's choice (A), the detection-aware search's (B) and
random paths, each pretrained with the same Fashion-MNIST recipe and then
trained in the same RetinaNet config, as the main job trains its arch; and
how well each search's estimate (held-out top-1 of the classification
supernet, held-out bbox mAP of the detection one, both with inherited
weights and BatchNorm recalibrated) ranks the trained detectors.

Every run is a tool run as a user would type it (in a subprocess); a result
already on disk is read rather than trained again, so an interrupted
benchmark goes on where it stopped."""
from __future__ import annotations

import json
import os
import os.path as osp
import statistics

import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from scipy import stats

from ..arch import Arch, flatten_path
from .runs import (DET_SEARCH, DETECT, PRETRAIN, ROOT, SEARCH, last_checkpoint,
                   logged_metrics, run_tool)
from ..selection.choice import path_estimates

# --quick: a few iterations of everything, to see the benchmark run end to end.
QUICK_PRETRAIN = ('train_dataloader.dataset.indices=(0,256)', 'val_dataloader.dataset.indices=(0,256)')
QUICK_DETECT = ('train_cfg.max_epochs=1', 'train_cfg.val_interval=1')
QUICK_SEARCH = ('train_cfg.max_iters=12', 'model.warmup_iters=6')


def trained_detector(arch: Arch, seed: int, work_dir: str, quick: bool = False) -> dict:
    """bbox mAP and mAP50 of ``arch`` pretrained on Fashion-MNIST and then
    trained in the embedded RetinaNet config, both runs seeded with
    ``seed``; read from ``work_dir`` when done before."""
    result_file = osp.join(ROOT, work_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return json.load(f)
    os.makedirs(osp.join(ROOT, work_dir), exist_ok=True)
    arch_file = osp.join(work_dir, 'arch.json')
    arch.dump(osp.join(ROOT, arch_file))
    pretrain, detect = osp.join(work_dir, 'pretrain'), osp.join(work_dir, 'detect')
    run_tool('tools/train.py', PRETRAIN, '--work-dir', pretrain, '--cfg-options',
             f'model.backbone.arch={arch_file}', f'randomness.seed={seed}',
             *(QUICK_PRETRAIN if quick else ()))
    run_tool('tools/train.py', DETECT, '--work-dir', detect, '--cfg-options',
             f'model.backbone.init_cfg.checkpoint={last_checkpoint(pretrain)}',
             f'randomness.seed={seed}', *(QUICK_DETECT if quick else ()))
    metrics = logged_metrics(detect)
    # No box above mmdet's score threshold leaves COCO's evaluation empty: 0.
    result = dict(arch=str(arch), seed=seed, bbox_mAP=metrics.get('coco/bbox_mAP', 0.),
                  bbox_mAP_50=metrics.get('coco/bbox_mAP_50', 0.),
                  top1=logged_metrics(pretrain)['accuracy/top1'])
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=1)
    return result


def searched(config: str, work_dir: str, quick: bool, *cfg_options: str) -> str:
    """The checkpoint of a search run in ``work_dir``, run first if absent."""
    if not osp.isfile(osp.join(ROOT, work_dir, 'arch.json')):
        options = (*cfg_options, *(QUICK_SEARCH if quick else ()))
        run_tool('tools/search_backbone.py', config, '--work-dir', work_dir,
                 *(('--cfg-options', *options) if options else ()))
    return last_checkpoint(work_dir)


def benchmark_detection_search(work_dir: str = 'work_dirs/det_search_quality',
                               cls_work_dir: str = 'work_dirs/main/search',
                               det_config: str = DET_SEARCH, seeds=(0, 1), num_random: int = 3,
                               num_board: int = 3, calib_batches: int = 5, quick: bool = False,
                               all_seeds: bool = False) -> dict:
    """A and B at each of ``seeds``; ``num_random`` random paths and the
    detection board's ``num_board`` best other entries at the first seed
    (at each, with ``all_seeds``); mAP averaged over an arch's seeds;
    Kendall's tau of each estimate against the trained mAP over the board
    entries and the random paths."""
    cls_ckpt = searched(SEARCH, cls_work_dir, quick)
    det_dir = osp.join(work_dir, 'det_search')
    # The detection-aware search starts from the supernet that chose A.
    det_ckpt = searched(det_config, det_dir, quick,
                        f'model.detector.backbone.init_cfg.checkpoint={cls_ckpt}')
    with open(osp.join(ROOT, cls_work_dir, 'arch.json')) as f:
        arch_a = Arch.from_dict(json.load(f))
    with open(osp.join(ROOT, det_dir, 'arch.json')) as f:
        arch_b = Arch.from_dict(json.load(f))
    with open(osp.join(ROOT, det_dir, 'board.json')) as f:
        board = [e['path'] for e in json.load(f)['entries']]
    model = MODELS.build(Config.fromfile(osp.join(ROOT, det_config)).model)
    generator = torch.Generator().manual_seed(0)
    drawn = [model.draw_path(generator) for _ in range(num_random)]  # within the band
    path_a, path_b = arch_a.path(), arch_b.path()
    others = [p for p in board if p != path_b][:num_board]
    ranked = [('B', path_b, 'board')] + [(f'board {i + 1}', p, 'board')
                                          for i, p in enumerate(others)] \
        + [(f'random {i + 1}', p, 'random') for i, p in enumerate(drawn)]
    if path_a not in [p for _, p, _ in ranked]:
        ranked.insert(0, ('A', path_a, 'classification choice'))
    paths = [p for _, p, _ in ranked]
    det_est = path_estimates(Config.fromfile(osp.join(ROOT, det_config)),
                             osp.join(ROOT, det_ckpt), paths, calib_batches)
    cls_est = path_estimates(Config.fromfile(osp.join(ROOT, SEARCH)),
                             osp.join(ROOT, cls_ckpt), paths, calib_batches)
    rows = []
    space, resolution = model.supernet.space, model.supernet.resolution
    for (name, path, kind), det, cls in zip(ranked, det_est, cls_est):
        if path == path_a and name != 'A':  # the classification search chose it too
            name = f'A, {name}'
        arch = Arch.from_path(space, path, resolution)
        run_seeds = seeds if all_seeds or path in (path_a, path_b) else seeds[:1]
        key = ''.join(map(str, flatten_path(path)))
        runs = [trained_detector(arch, s, osp.join(work_dir, f'{key}_seed{s}'), quick)
                for s in run_seeds]
        rows.append(dict(name=name, kind=kind, arch=str(arch), flops=model.cost.flops(path),
                         det_estimate=det, cls_estimate=cls, runs=runs,
                         bbox_mAP=statistics.mean(r['bbox_mAP'] for r in runs),
                         bbox_mAP_50=statistics.mean(r['bbox_mAP_50'] for r in runs)))
    tau_set = [r for r in rows if r['kind'] in ('board', 'random')]
    taus = {est: stats.kendalltau([r[est] for r in tau_set], [r['bbox_mAP'] for r in tau_set])[0]
            for est in ('det_estimate', 'cls_estimate')}
    result = dict(rows=rows, kendall_tau=taus, seeds=list(seeds), quick=quick)
    with open(osp.join(ROOT, work_dir, 'det_search_quality.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def detection_search_table(result: dict) -> str:
    lines = ['| arch | which | MFLOPs | detection estimate (mAP) | classification estimate '
             '(top-1) | trained bbox mAP | mAP50 | seeds |', '|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        lines.append(f'| `{r["arch"]}` | {r["name"]} | {r["flops"] / 1e6:.2f} | '
                     f'{r["det_estimate"]:.3f} | {r["cls_estimate"]:.2f} % | '
                     f'{r["bbox_mAP"]:.3f} | {r["bbox_mAP_50"]:.3f} | '
                     f'{", ".join(str(run["seed"]) for run in r["runs"])} |')
    taus = result['kendall_tau']
    lines.append(f'\nKendall tau against the trained mAP (board entries and random archs): '
                 f'detection estimate {taus["det_estimate"]:.2f}, classification estimate '
                 f'{taus["cls_estimate"]:.2f}')
    return '\n'.join(lines)
