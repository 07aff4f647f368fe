"""Does the detection-aware search pay, and could this benchmark tell? Within
one FLOPs band: the classification search's choice (A), the choices of
detection-aware searches at several seeds (B0, B1, ...), each search's best
other board entries and random paths, each pretrained with the same
Fashion-MNIST recipe and then trained in the same RetinaNet config at
several training seeds, as the main job trains its arch; how well each
estimate (held-out bbox mAP of each detection supernet, held-out top-1 of
the classification one, both with inherited weights and BatchNorm
recalibrated; FLOPs beside them) ranks the trained detectors; and, from the
measured variances, the smallest difference the benchmark could detect.

The benchmark writes its own detection set (tools/misc/make_detection_set.py,
the main job's seed) in WORK_DIR/fashion-det, split so that no image plays
two parts::

    train/  images 0 .. 159      the detection searches train on them, and the detectors
            images 160 .. 199    the detectors train on them too (the main job's 200 images)
            images 200 .. 200+H  the searches' held-out set (H = --held-out-images): the
                                 board's mAP and the detection estimate; no detector sees them
    val/    T images             the truth (T = --truth-images): the trained detectors' bbox
                                 mAP, from Fashion-MNIST test items; no search sees them

The first 200 training images are those of the main job's set (the same
seed draws images one after the other), so the detectors train on what the
main job's detector trains on.

Every run is a tool run as a user would type it (in a subprocess); a result
already on disk (a training, a search, an estimate) is read rather than
made again, so an interrupted benchmark goes on where it stopped."""
from __future__ import annotations

import inspect
import json
import os
import os.path as osp
import statistics

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from ..arch import Arch, flatten_path
from ..datasets import make_detection_set
from ..errors import ConfigError
from ..selection.choice import held_out_cfg, path_estimates
from .ranking import rank_statistics
from .resolution import DETECTABLE_SE, gain_over_random, seed_agreement, tau_difference
from .runs import (DET_SEARCH, DETECT, PRETRAIN, ROOT, SEARCH, last_checkpoint,
                   logged_metrics, run_tool)

# --quick: a few iterations of everything, to see the benchmark run end to end.
QUICK_PRETRAIN = ('train_dataloader.dataset.indices=(0,256)', 'val_dataloader.dataset.indices=(0,256)')
QUICK_DETECT = ('train_cfg.max_epochs=1', 'train_cfg.val_interval=1')
QUICK_SEARCH = ('train_cfg.max_iters=12', 'model.warmup_iters=6')
QUICK_CLS_HELD_OUT = 512  # of the classification search's held-out images

_SET_DEFAULTS = {name: p.default for name, p in
                 inspect.signature(make_detection_set).parameters.items()}
# The detectors train on as many images as the main job's set holds, and the
# set is drawn with its seed.
DETECTOR_TRAIN_IMAGES = _SET_DEFAULTS['num_train']
SET_SEED = _SET_DEFAULTS['seed']
Z95 = 1.96  # a normal 95 % interval: the estimate plus or minus Z95 standard errors


def _option_args(options: dict) -> list:
    """``{key: value}`` as --cfg-options arguments (lists without spaces, one argument each)."""
    def text(value):
        return f'[{",".join(map(str, value))}]' if isinstance(value, (list, tuple)) else value
    return [f'{key}={text(value)}' for key, value in options.items()]


def _held_out_loaders(cfg) -> list:
    """The keys of a search config's held-out loaders: its arch hook's and
    ``held_out_dataloader``, set together so that they stay one."""
    hook = next(i for i, h in enumerate(cfg.custom_hooks) if 'held_out' in h)
    return [f'custom_hooks.{hook}.held_out', 'held_out_dataloader']


def quick_cls_options(cfg) -> dict:
    """--quick: the classification search scores on the first of its held-out images."""
    start = cfg.held_out_dataloader.dataset.indices[0]
    return {f'{loader}.dataset.indices': (start, start + QUICK_CLS_HELD_OUT)
            for loader in _held_out_loaders(cfg)}


class DetectionSet:
    """The benchmark's own set and the config overrides that point the
    detection search and the detector trainings at its split."""

    def __init__(self, root: str, held_out_images: int, truth_images: int):
        if min(held_out_images, truth_images) < 1:
            raise ConfigError('held-out and truth images: at least one of each')
        self.root, self.held_out, self.truth = root, held_out_images, truth_images
        self.num_train = DETECTOR_TRAIN_IMAGES + held_out_images

    def written(self) -> bool:
        """Whether the set is on disk (written as asked; another one is an error)."""
        files = [osp.join(ROOT, self.root, 'annotations', f'instances_{split}.json')
                 for split in ('train', 'val')]
        if not all(map(osp.isfile, files)):
            return False
        with open(files[0]) as f:
            info = json.load(f)['info']
        if (info['num_train'], info['num_val'], info['seed']) != (
                self.num_train, self.truth, SET_SEED):
            raise ConfigError(
                f'{self.root} holds {info["num_train"]} train and {info["num_val"]} val images '
                f'(seed {info["seed"]}), not {self.num_train} and {self.truth} (seed {SET_SEED}): '
                'another --held-out-images or --truth-images needs another --work-dir')
        return True

    def write(self) -> None:
        if not self.written():  # a half-written set (an interrupted run) is written anew
            run_tool('tools/misc/make_detection_set.py', self.root, '--seed', str(SET_SEED),
                     '--num-train', str(self.num_train), '--num-val', str(self.truth),
                     '--overwrite')
            self.written()

    def search_options(self, cfg) -> dict:
        """The detection search: trains on its config's images (the first
        ones), scores on the held-out images after the detectors'."""
        trained = cfg.train_dataloader.dataset.indices
        if max(trained) >= DETECTOR_TRAIN_IMAGES:
            raise ConfigError(f'the detection search trains on images up to {max(trained)}: '
                              f'expected them among the detectors\' first {DETECTOR_TRAIN_IMAGES}')
        held_out = list(range(DETECTOR_TRAIN_IMAGES, self.num_train))
        options = {'train_dataloader.dataset.data_root': self.root}
        for loader in _held_out_loaders(cfg):
            options.update({f'{loader}.dataset.data_root': self.root,
                            f'{loader}.dataset.indices': held_out})
        return options

    def detector_options(self) -> dict:
        """The detectors: train on the first images, scored on val/ (the truth)."""
        ann_val = osp.join(self.root, 'annotations', 'instances_val.json')
        return {'train_dataloader.dataset.data_root': self.root,
                'train_dataloader.dataset.indices': DETECTOR_TRAIN_IMAGES,
                'val_dataloader.dataset.data_root': self.root, 'val_evaluator.ann_file': ann_val,
                'test_dataloader.dataset.data_root': self.root,
                'test_evaluator.ann_file': ann_val}


def trained_detector(arch: Arch, seed: int, work_dir: str, data: DetectionSet,
                     quick: bool = False) -> dict:
    """bbox mAP and mAP50 on the truth's images of ``arch`` pretrained on
    Fashion-MNIST and then trained in the embedded RetinaNet config on
    ``data``'s detector images, both runs seeded with ``seed``; read from
    ``work_dir`` when done before."""
    result_file = osp.join(ROOT, work_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            result = json.load(f)
        if (result.get('detection_set'), result.get('truth_images')) != (data.root, data.truth):
            raise ConfigError(f'{work_dir} was trained on another detection set: '
                              'use another --work-dir')
        return result
    os.makedirs(osp.join(ROOT, work_dir), exist_ok=True)
    arch_file = osp.join(work_dir, 'arch.json')
    arch.dump(osp.join(ROOT, arch_file))
    pretrain, detect = osp.join(work_dir, 'pretrain'), osp.join(work_dir, 'detect')
    run_tool('tools/train.py', PRETRAIN, '--work-dir', pretrain, '--cfg-options',
             f'model.backbone.arch={arch_file}', f'randomness.seed={seed}',
             *(QUICK_PRETRAIN if quick else ()))
    run_tool('tools/train.py', DETECT, '--work-dir', detect, '--cfg-options',
             f'model.backbone.init_cfg.checkpoint={last_checkpoint(pretrain)}',
             f'randomness.seed={seed}', *_option_args(data.detector_options()),
             *(QUICK_DETECT if quick else ()))
    metrics = logged_metrics(detect)
    # No box above mmdet's score threshold leaves COCO's evaluation empty: 0.
    result = dict(arch=str(arch), seed=seed, bbox_mAP=metrics.get('coco/bbox_mAP', 0.),
                  bbox_mAP_50=metrics.get('coco/bbox_mAP_50', 0.),
                  top1=logged_metrics(pretrain)['accuracy/top1'],
                  detection_set=data.root, truth_images=data.truth)
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=1)
    return result


def searched(config: str, work_dir: str, quick: bool, options: dict = None) -> str:
    """The checkpoint of a search run in ``work_dir``, run first if absent."""
    if not osp.isfile(osp.join(ROOT, work_dir, 'arch.json')):
        args = (*_option_args(options or {}), *(QUICK_SEARCH if quick else ()))
        run_tool('tools/search_backbone.py', config, '--work-dir', work_dir,
                 *(('--cfg-options', *args) if args else ()))
    return last_checkpoint(work_dir)


def cached_estimates(cfg, checkpoint: str, archs: dict, cache_file: str,
                     calib_batches: int) -> dict:
    """``{arch: held-out score}`` with ``checkpoint``'s weights for each of
    ``archs`` (``{arch: path}``), read from ``cache_file`` where it was
    scored with the same checkpoint, calibration and held-out images, the
    rest scored now."""
    key = dict(checkpoint=checkpoint, calib_batches=calib_batches,
               held_out=json.dumps(held_out_cfg(cfg).to_dict(), sort_keys=True, default=str))
    cache = {}
    if osp.isfile(cache_file):
        with open(cache_file) as f:
            saved = json.load(f)
        if saved['key'] == key:
            cache = saved['estimates']
    missing = [arch for arch in archs if arch not in cache]
    if missing:
        scores = path_estimates(cfg, osp.join(ROOT, checkpoint), [archs[a] for a in missing],
                                calib_batches)
        cache.update(zip(missing, scores))
        with open(cache_file, 'w') as f:
            json.dump(dict(key=key, estimates=cache), f, indent=1)
    return {arch: cache[arch] for arch in archs}


def choice_difference(choices: list, reference: float, seed_noise_sd: float,
                      training_seeds: int) -> dict:
    """The mean truth of the detection-aware choices (one per search seed)
    minus the classification choice's (one arch). Each truth is a mean over
    ``training_seeds`` runs and carries their noise; the choices spread by
    their own variance, and by no less than that noise (two searches that
    chose one arch read the same runs). resolution.gain_over_random does not
    fit: its random archs' spread stands for both sides, and here one side
    is a single arch. A normal interval, and DETECTABLE_SE standard errors
    the smallest difference detectable."""
    choices = np.asarray(choices, dtype=float)
    run_var = seed_noise_sd ** 2 / training_seeds
    spread = max(float(np.var(choices, ddof=1)) if len(choices) > 1 else 0., run_var)
    se = float(np.sqrt(spread / len(choices) + run_var))
    value = float(choices.mean() - reference)
    return dict(value=value, ci95=[value - Z95 * se, value + Z95 * se],
                detectable=DETECTABLE_SE * se, choices=len(choices), se=se)


def _roster(path_a, searches: list, drawn: list, num_board: int) -> list:
    """The trained archs, each path once with every part it plays: A, each
    search's B and its ``num_board`` best other board entries, the random paths."""
    roster = {}

    def add(role, path, kind):
        entry = roster.setdefault(str(path), dict(path=path, roles=[], kinds=[]))
        entry['roles'].append(role)
        entry['kinds'].append(kind)

    add('A', path_a, 'classification choice')
    for search in searches:
        add(f'B{search["seed"]}', search['choice'], 'detection choice')
    for search in searches:
        others = [p for p in search['board'] if p != search['choice']][:num_board]
        for i, path in enumerate(others):
            add(f'board{search["seed"]}.{i + 1}', path, 'board')
    for i, path in enumerate(drawn):
        add(f'random {i + 1}', path, 'random')
    return list(roster.values())


def benchmark_detection_search(work_dir: str = 'work_dirs/det_search_quality',
                               cls_work_dir: str = 'work_dirs/main/search',
                               det_config: str = DET_SEARCH, seeds=(0, 1, 2),
                               search_seeds=(0, 1, 2), num_random: int = 6, num_board: int = 1,
                               held_out_images: int = 400, truth_images: int = 400,
                               calib_batches: int = 5, quick: bool = False,
                               first_seed_only: bool = False) -> dict:
    """A; one detection-aware search per ``search_seeds`` (its B and its
    ``num_board`` best other board entries); ``num_random`` random paths;
    every arch trained at each of ``seeds`` (the archs other than A and the
    Bs at the first only, with ``first_seed_only``), its mAP the mean over
    its seeds; the estimates' Kendall tau against it over every trained
    arch, and what the benchmark can resolve (see detection_search_table)."""
    if len(seeds) < 2:
        raise ConfigError('seeds: at least two training seeds, for the truth\'s agreement '
                          'between seeds')
    if num_random < 2:
        raise ConfigError('num_random: at least two random archs, for the gain over random')
    data = DetectionSet(osp.join(work_dir, 'fashion-det'), held_out_images, truth_images)
    data.write()
    det_cfg = Config.fromfile(osp.join(ROOT, det_config))
    search_options = data.search_options(det_cfg)
    det_cfg.merge_from_dict(search_options)
    cls_cfg = Config.fromfile(osp.join(ROOT, SEARCH))
    cls_options = quick_cls_options(cls_cfg) if quick else {}
    cls_cfg.merge_from_dict(cls_options)
    cls_ckpt = searched(SEARCH, cls_work_dir, quick, cls_options)
    searches = []
    for seed in search_seeds:
        search_dir = osp.join(work_dir, f'det_search_seed{seed}')
        # Each detection-aware search starts from the supernet that chose A.
        checkpoint = searched(det_config, search_dir, quick, {
            **search_options, 'model.detector.backbone.init_cfg.checkpoint': cls_ckpt,
            'randomness.seed': seed, 'model.seed': seed})
        with open(osp.join(ROOT, search_dir, 'arch.json')) as f:
            choice = Arch.from_dict(json.load(f)).path()
        with open(osp.join(ROOT, search_dir, 'board.json')) as f:
            board = [e['path'] for e in json.load(f)['entries']]
        searches.append(dict(seed=seed, work_dir=search_dir, checkpoint=checkpoint,
                             choice=choice, board=board))
    with open(osp.join(ROOT, cls_work_dir, 'arch.json')) as f:
        path_a = Arch.from_dict(json.load(f)).path()
    model = MODELS.build(det_cfg.model)
    generator = torch.Generator().manual_seed(0)
    drawn = [model.draw_path(generator) for _ in range(num_random)]  # within the band
    roster = _roster(path_a, searches, drawn, num_board)
    space, resolution = model.supernet.space, model.supernet.resolution
    for entry in roster:
        entry['arch'] = Arch.from_path(space, entry['path'], resolution)
    by_arch = {str(e['arch']): e['path'] for e in roster}

    estimates = {f'detection, search seed {s["seed"]}': cached_estimates(
        det_cfg, s['checkpoint'], by_arch, osp.join(ROOT, s['work_dir'], 'estimates.json'),
        calib_batches) for s in searches}
    estimates['classification'] = cached_estimates(
        cls_cfg, cls_ckpt, by_arch,
        osp.join(ROOT, work_dir, 'cls_estimates.json'), calib_batches)
    estimates['FLOPs'] = {arch: model.cost.flops(path) for arch, path in by_arch.items()}

    rows = []
    for entry in roster:
        arch, arch_name = entry['arch'], str(entry['arch'])
        chosen = any(k.endswith('choice') for k in entry['kinds'])
        run_seeds = seeds[:1] if first_seed_only and not chosen else seeds
        key = ''.join(map(str, flatten_path(entry['path'])))
        runs = [trained_detector(arch, s, osp.join(work_dir, f'{key}_seed{s}'), data, quick)
                for s in run_seeds]
        rows.append(dict(name=', '.join(entry['roles']), roles=entry['roles'],
                         kinds=sorted(set(entry['kinds'])), arch=arch_name,
                         flops=estimates['FLOPs'][arch_name],
                         det_estimates=[estimates[f'detection, search seed {s}'][arch_name]
                                        for s in search_seeds],
                         cls_estimate=estimates['classification'][arch_name], runs=runs,
                         bbox_mAP=statistics.mean(r['bbox_mAP'] for r in runs),
                         bbox_mAP_50=statistics.mean(r['bbox_mAP_50'] for r in runs)))
    result = dict(rows=rows, seeds=list(seeds), search_seeds=list(search_seeds),
                  held_out_images=held_out_images, truth_images=truth_images,
                  detection_set=data.root, quick=quick,
                  **resolution_of(rows, estimates, seeds, search_seeds))
    with open(osp.join(ROOT, work_dir, 'det_search_quality.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def resolution_of(rows: list, estimates: dict, seeds, search_seeds) -> dict:
    """The statistics of the table: the truth's agreement between training
    seeds (over the archs trained at every seed), the Bs' and A's gains over
    the random archs, the Bs against A, each estimate's tau against the
    truth and the detection estimates' tau minus the classification one's."""
    truth = {r['arch']: r['bbox_mAP'] for r in rows}
    by_role = {role: r['arch'] for r in rows for role in r['roles']}
    full = {r['arch']: [run['bbox_mAP'] for run in r['runs']] for r in rows
            if len(r['runs']) == len(seeds)}
    ceiling = seed_agreement(full) if len(full) >= 2 else None
    choices = [truth[by_role[f'B{s}']] for s in search_seeds]
    randoms = [r['bbox_mAP'] for r in rows if 'random' in r['kinds']]
    det_names = [f'detection, search seed {s}' for s in search_seeds]
    taus = {name: rank_statistics(values, truth)['kendall_tau']
            for name, values in estimates.items()}
    taus['detection, mean over search seeds'] = dict(
        value=float(np.nanmean([taus[n]['value'] for n in det_names])))
    return dict(
        ceiling=ceiling,
        gains_over_random={'B': gain_over_random(choices, randoms),
                           'A': gain_over_random([truth[by_role['A']]], randoms)},
        b_minus_a=choice_difference(choices, truth[by_role['A']],
                                    ceiling['seed_noise_sd'] if ceiling else float('nan'),
                                    len(seeds)),
        kendall_tau=taus,
        detection_minus_classification_tau=tau_difference(
            [estimates[n] for n in det_names], [estimates['classification']], truth))


def _interval(stat: dict, digits: int = 3) -> str:
    low, high = stat['ci95']
    return f'{stat["value"]:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]'


def detection_search_table(result: dict) -> str:
    search_seeds = result['search_seeds']
    lines = ['| arch | which | MFLOPs | detection estimate (mAP; search seed '
             + ' / '.join(map(str, search_seeds)) + ') | classification estimate (top-1) | '
             'trained bbox mAP (mean; per seed) | mAP50 | seeds |', '|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        per_seed = ' / '.join(f'{run["bbox_mAP"]:.3f}' for run in r['runs'])
        lines.append(f'| `{r["arch"]}` | {r["name"]} | {r["flops"] / 1e6:.2f} | '
                     f'{" / ".join(f"{e:.3f}" for e in r["det_estimates"])} | '
                     f'{r["cls_estimate"]:.2f} % | {r["bbox_mAP"]:.3f} ({per_seed}) | '
                     f'{r["bbox_mAP_50"]:.3f} | '
                     f'{", ".join(str(run["seed"]) for run in r["runs"])} |')
    lines.append(f'\nTruth: bbox mAP on {result["truth_images"]} val images, the mean over '
                 f'training seeds {", ".join(map(str, result["seeds"]))}; detection estimates '
                 f'on {result["held_out_images"]} held-out training images.')
    ceiling = result['ceiling']
    if ceiling:
        tau = ceiling['kendall_tau']
        lines.append(
            f'The truth against itself (Kendall tau between training seeds, over '
            f'{ceiling["archs"]} archs at {ceiling["seeds"]} seeds): {tau["value"]:.2f} '
            f'[{tau["ci95"][0]:.2f}, {tau["ci95"][1]:.2f}]; one run\'s seed noise '
            f'{ceiling["seed_noise_sd"]:.4f} (sd), the archs\' spread {ceiling["arch_spread_sd"]:.4f}.')
    lines.append('\nKendall tau against the trained mAP, over every trained arch '
                 '(95 % bootstrap interval):')
    for name, tau in result['kendall_tau'].items():
        interval = (f' [{tau["ci95"][0]:.2f}, {tau["ci95"][1]:.2f}]' if 'ci95' in tau else '')
        lines.append(f'- {name}: {tau["value"]:.2f}{interval}')
    differences = [
        ('B (the detection choices) - the random archs, mAP', result['gains_over_random']['B'], 3),
        ('A (the classification choice) - the random archs, mAP',
         result['gains_over_random']['A'], 3),
        ('B - A, mAP', result['b_minus_a'], 3),
        ('tau of the detection estimates - tau of the classification estimate',
         result['detection_minus_classification_tau'], 2)]
    lines.append('\nDifferences (95 % interval; the smallest detectable, 80 % power at 5 %):')
    for name, stat, digits in differences:
        lines.append(f'- {name}: {_interval(stat, digits)}, detectable {stat["detectable"]:.{digits}f}')
    return '\n'.join(lines)
