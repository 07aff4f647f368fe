"""Does the search teach? The held-out score of the final board's paths
against paths sampled uniformly, and of fixed probe paths over a run (the
learning curves), all scored as the arch choice scores them (a
:class:`~cream_det.selection.PathScorer`)."""
from __future__ import annotations

import json
import os
import statistics

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from ..archs import resolve_arch
from ..errors import ConfigError
from ..models import CreamSuperNet
from ..models.common import inner_args
from ..selection.choice import held_out_cfg, searched_model
from ..selection.scoring import PathScorer, random_state_kept
from ..selection.rerank import shortened


def board_versus_uniform(model, scorer: PathScorer, num_paths: int = 5,
                         seed: int = 12345) -> dict:
    """The held-out score of up to ``num_paths`` board paths (best first)
    and of ``num_paths`` uniformly sampled ones (from ``seed``, within the
    search's constraint), with summaries."""
    generator = torch.Generator().manual_seed(seed)
    paths = dict(board=[model.board.path(i) for i in range(min(num_paths, len(model.board)))],
                 uniform=[model.draw_path(generator) for _ in range(num_paths)])
    result = dict(score_key=scorer.score_key)
    for kind, kind_paths in paths.items():
        scores = [scorer(model, p) for p in kind_paths]
        result[kind] = dict(scores=scores, mean=statistics.mean(scores), min=min(scores),
                            max=max(scores))
    result['gap'] = result['board']['mean'] - result['uniform']['mean']
    return result


def analyze_search(cfg, checkpoint: str, num_paths: int = 5, calib_batches: int = 10) -> dict:
    """:func:`board_versus_uniform` of a search checkpoint, its paths scored
    as the config's arch hook scores them."""
    model, scorer = searched_model(cfg, checkpoint, calib_batches)
    if scorer is None:
        raise ConfigError('the search config has no held-out loader (CreamArchHook.held_out '
                          'or held_out_dataloader) to score paths on')
    return board_versus_uniform(model, scorer, num_paths)


def fixed_arch(supernet, fixed_arch=None, fixed_op: str = 'k5e6'):
    """The arch the curves follow first: ``fixed_arch``, or every layer ``fixed_op``."""
    if fixed_arch is not None:
        return resolve_arch(fixed_arch)
    if fixed_op not in supernet.space.ops:
        raise ConfigError(f'fixed_op={fixed_op!r}: expected one of {list(supernet.space.ops)}')
    return supernet.arch_of([[supernet.space.ops.index(fixed_op)] * d for d in supernet.depths])


def probe_paths(supernet, first, num_random: int = 3, seed: int = 100) -> list:
    """Paths to follow over a run: ``first`` (an arch), then seeded random paths."""
    generator = torch.Generator().manual_seed(seed)
    return ([supernet.path_of(resolve_arch(first))]
            + [supernet.sample_path(generator) for _ in range(num_random)])


@HOOKS.register_module()
class ProbePathsHook(Hook):
    """Every ``interval`` iterations, the held-out score of fixed probe paths
    (BatchNorm recalibrated, the search's metric), written to ``probes.json`` in the work dir:
    the supernet's learning curve. Loaders are built before training, and
    scoring keeps the run's random state, so a run draws what it would
    without the hook."""
    priority = 'LOW'

    def __init__(self, held_out: dict, first, interval: int = 100, calib_batches: int = 10,
                 num_random: int = 3):
        self.held_out, self.first, self.interval = held_out, first, interval
        self.calib_batches, self.num_random = calib_batches, num_random
        self.curve = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        with random_state_kept():
            self.scorer = PathScorer.build(model, runner.cfg.train_dataloader, self.held_out,
                                           self.calib_batches)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.interval or not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        paths = probe_paths(model.supernet, self.first, self.num_random)
        with random_state_kept():
            scores = [self.scorer(model, p) for p in paths]
        self.curve.append(dict(iter=runner.iter + 1, scores=scores))
        with open(os.path.join(runner.work_dir, 'probes.json'), 'w') as f:
            json.dump(dict(first=resolve_arch(self.first).to_dict(),
                           score_key=self.scorer.score_key,
                           paths=[str(model.supernet.arch_of(p)) for p in paths],
                           curve=self.curve), f, indent=1)


LEARNING_MODES = ('fixed', 'spos', 'cream')


def learning_curve_cfg(cfg, mode: str, work_dir: str, iters: int, interval: int, first):
    """A search config turned into one run of the learning-curve experiment,
    the same data, schedule, seeds and iterations for every mode:
    'fixed' trains the arch ``first`` alone, 'spos' uniform paths with no
    teacher (the board never opens), 'cream' the search as configured, but
    for its constraint: the curves follow the whole space's learning."""
    if mode not in LEARNING_MODES:
        raise ConfigError(f'mode={mode!r}: expected one of {LEARNING_MODES}')
    cfg = shortened(cfg, os.path.join(work_dir, mode), iters)
    cfg.model.constraint = None
    first = first.to_dict()
    cfg.custom_hooks = [dict(type='ProbePathsHook', held_out=held_out_cfg(cfg),
                             first=first, interval=interval)]
    if mode == 'fixed':
        cfg.model.update(sampling='fixed', fixed_arch=first, warmup_iters=iters)
    elif mode == 'spos':
        cfg.model.update(sampling='even', warmup_iters=iters)
    return cfg


def run_learning_curves(cfg, work_dir: str, iters: int, interval: int,
                        modes=LEARNING_MODES, first=None, fixed_op: str = 'k5e6') -> dict:
    """Run each mode; return ``{mode: probes.json contents}`` (also written
    to ``work_dir/curves.json``). The first probe, and the path of 'fixed',
    is ``first`` (an arch) or every layer ``fixed_op``."""
    supernet = CreamSuperNet(**inner_args(cfg.model.supernet, 'CreamSuperNet', 'the search'))
    first = fixed_arch(supernet, first, fixed_op)
    curves = {}
    for mode in modes:
        run = learning_curve_cfg(cfg, mode, work_dir, iters, interval, first)
        Runner.from_cfg(run).train()
        with open(os.path.join(run.work_dir, 'probes.json')) as f:
            curves[mode] = json.load(f)
    with open(os.path.join(work_dir, 'curves.json'), 'w') as f:
        json.dump(curves, f, indent=1)
    return curves


def plot_learning_curves(curves: dict, out: str, title: str = '') -> None:
    """The held-out score of the fixed probe path (solid) and the mean of the
    random probes (dashed) over iterations, one colour per mode."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for mode, probes in curves.items():
        iters = [c['iter'] for c in probes['curve']]
        line, = ax.plot(iters, [c['scores'][0] for c in probes['curve']], marker='o',
                        label=f'{mode}: {probes["paths"][0]}')
        ax.plot(iters, [statistics.mean(c['scores'][1:]) for c in probes['curve']], ls='--',
                color=line.get_color(), label=f'{mode}: mean of {len(probes["paths"]) - 1} '
                'random paths')
    key = next(iter(curves.values()))['score_key']
    ax.set(xlabel='iteration', ylabel=f'held-out {key}, BN recalibrated', title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
