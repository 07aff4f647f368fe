"""Pictures of a finished search, for people who would rather look than read.

``board.png``: where the board and the chosen arch sit in a cloud of paths
sampled as the search samples them (within its constraint), by FLOPs
against the board's score on a training batch (what the board ranks by:
prec@1 for a classification search, minus the loss for a detection-aware
one) and against the search's held-out score (what the paths are worth:
top-1, bbox mAP); a board that teaches sits above the cloud on the right
as well as on the left. ``training.png``: the board's best and worst
score, the losses and the matching weight over the iterations, from
mmengine's ``vis_data/scalars.json``.

    python tools/analysis_tools/plot_board.py WORK_DIR [--num-paths 30]
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import re
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from ..errors import ConfigError, MissingFileError
from ..search import PathSearch
from ..selection.choice import searched_model
from ..selection.scoring import random_state_kept, seeded

DPI = 100
BOARD_FIGSIZE = (12., 4.8)     # inches: two panels side by side
TRAINING_FIGSIZE = (8., 8.4)   # inches: three panels stacked
PARETO_FIGSIZE = (8., 5.)      # inches
RUN_DIR = re.compile(r'\d{8}_\d{6}')


# -- the files of a search work dir ------------------------------------------
def _runs(work_dir: str) -> list[str]:
    """mmengine's run folders (``<timestamp>``), oldest first."""
    return sorted(d for d in glob.glob(osp.join(work_dir, '*'))
                  if RUN_DIR.fullmatch(osp.basename(d)) and osp.isdir(d))


def _read_json(path: str, what: str) -> dict:
    if not osp.isfile(path):
        raise MissingFileError(f'{path} does not exist: {what}')
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ConfigError(f'{path} is not valid JSON ({err})') from None


def search_files(work_dir: str, config: Optional[str] = None,
                 checkpoint: Optional[str] = None) -> dict:
    """The files the pictures need, each checked, so that a wrong work dir
    fails at once and not after minutes of scoring: ``board.json`` and
    ``arch.json`` (written when the search ends), the config (``config``, or
    the one mmengine saved with the newest run), the checkpoint
    (``checkpoint``, or the one ``last_checkpoint`` names) and every run's
    ``scalars.json``."""
    if not osp.isdir(work_dir):
        raise MissingFileError(f'work dir {work_dir} does not exist')
    finished = 'not the work dir of a finished search (tools/search_backbone.py writes it ' \
               'when the search ends)'
    board = _read_json(osp.join(work_dir, 'board.json'), finished)
    if not isinstance(board, dict) or not isinstance(board.get('entries'), list):
        raise ConfigError(f'{osp.join(work_dir, "board.json")}: expected {{"entries": [...]}}')
    arch = _read_json(osp.join(work_dir, 'arch.json'), finished)
    if config is None:
        saved = [osp.join(run, 'vis_data', 'config.py') for run in _runs(work_dir)]
        configs = [c for c in saved if osp.isfile(c)][-1:] or sorted(
            glob.glob(osp.join(work_dir, '*.py')))
        if len(configs) != 1:
            raise MissingFileError(f'{work_dir} holds {"no" if not configs else "several"} '
                                   "search config (mmengine saves it as <run>/vis_data/"
                                   'config.py): give it with --config')
        config = configs[0]
    elif not osp.isfile(config):
        raise MissingFileError(f'config file {config} does not exist')
    if checkpoint is None:
        record = osp.join(work_dir, 'last_checkpoint')
        if not osp.isfile(record):
            raise MissingFileError(f'{record} does not exist: the search saved no checkpoint; '
                                   'give one with --checkpoint')
        with open(record) as f:
            named = f.read().strip()
        # A work dir that was moved still holds its checkpoints.
        checkpoint = next((p for p in (named, osp.join(work_dir, osp.basename(named)))
                           if osp.isfile(p)), None)
        if checkpoint is None:
            raise MissingFileError(f'checkpoint {named} (named by {record}) does not exist; '
                                   'give one with --checkpoint')
    elif not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint file {checkpoint} does not exist')
    scalars = [s for s in (osp.join(run, 'vis_data', 'scalars.json') for run in _runs(work_dir))
               if osp.isfile(s)]
    return dict(board=board['entries'], board_score=board.get('board_score'),
                score_key=board.get('score_key'), arch=arch, config=config,
                checkpoint=checkpoint, scalars=scalars)


# -- the numbers ---------------------------------------------------------------
def board_cloud(model, scorer, num_paths: int = 30, seed: int = 0,
                board_entries: Optional[list] = None) -> dict:
    """The numbers behind ``board.png``: ``cloud``, ``num_paths`` paths drawn
    from ``seed`` as the search draws them (``model.draw_path``: within its
    constraint), each with ``flops``, ``batch_score`` (the board's score on
    one fixed, seeded training batch, ``model.batch_score``) and ``held_out``
    (``scorer``'s score, BatchNorm recalibrated); and ``board``, the board's
    entries (``board_entries``, else the model's board) with their recorded
    ``score`` and a ``held_out``, scored here where missing (``board.json``
    holds the arch choice's scores, recalibrated on its own
    ``calib_batches``). The caller's random state is kept."""
    if board_entries is None:
        board_entries = model.board.entries()
    with random_state_kept():
        with seeded(seed):  # the same images, augmented alike, at every call
            data = model.data_preprocessor(next(iter(scorer.calib_loader)), True)
        generator = torch.Generator().manual_seed(seed)
        cloud = []
        for _ in range(num_paths):
            path = model.draw_path(generator)
            cloud.append(dict(
                path=path, arch=str(model.supernet.arch_of(path)),
                flops=int(model.cost.flops(path)), batch_score=model.batch_score(data, path),
                held_out=scorer(model, path)))
        board = []
        for entry in board_entries:
            entry = dict(entry)
            if entry.get('held_out') is None:
                entry['held_out'] = scorer(model, entry['path'])
            board.append(entry)
    return dict(cloud=cloud, board=board, seed=seed, calib_batches=scorer.calib_batches,
                train_batch_size=len(data['inputs']), board_score=model.board_score,
                score_key=scorer.score_key)


def budget_of(model) -> Optional[tuple]:
    """((low, high) MFLOPs, its name): the range the search kept to, its
    constraint, else the range that sized its supernet; None without either."""
    if model.constraint is not None and model.constraint.flops_range is not None:
        return tuple(model.constraint.flops_range), 'constraint'
    if model.supernet.budget is not None:
        return tuple(model.supernet.budget), 'supernet budget'
    return None


def chosen_point(arch: dict, board: list) -> Optional[dict]:
    """The chosen arch as a point of the board: its FLOPs, board score and
    held-out score (its entry's), from ``arch.json``'s meta keys."""
    i = arch.get('board_entry')
    if not isinstance(i, int) or not 0 <= i < len(board):
        return None
    entry = board[i]
    return dict(flops=arch.get('flops', entry['flops']),
                score=arch.get('board_score', entry['score']),
                held_out=entry.get('held_out'), arch=entry['arch'],
                rule=arch.get('rule', 'official'))


# -- the pictures --------------------------------------------------------------
def _figure(figsize, rows: int = 1, cols: int = 1, **kw):
    """A figure drawn by Agg alone, without pyplot's global state, so that
    plotting inside a run or a test changes no backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False, **kw)


def _count(n, one: str, many: str) -> str:
    return f'{n} {one if n == 1 else many}'


def plot_board(data: dict, out: str, chosen: Optional[dict] = None, budget=None,
               title: str = '') -> str:
    """``board.png``: MFLOPs against the board's score on a training batch
    (left) and the held-out score (right) for the cloud (grey), the board
    (blue, its score as recorded when each entry came in) and the chosen
    arch (star), with the FLOPs range the search kept to (``budget``:
    ((lo, hi), name))."""
    fig, axes = _figure(BOARD_FIGSIZE, 1, 2)
    cloud, board = data['cloud'], data['board']
    panels = (('batch_score', 'score', 'score',
               f'{data["board_score"]}, one batch of {data.get("train_batch_size", "?")}'),
              ('held_out', 'held_out', 'held_out',
               f'held-out {data["score_key"]}, BN recalibrated on '
               + _count(data.get('calib_batches'), 'training batch', 'training batches')))
    for ax, (cloud_key, board_key, chosen_key, ylabel) in zip(axes[0], panels):
        if budget is not None:
            (low, high), name = budget
            ax.axvspan(low, high, color='tab:green', alpha=0.07)
            for x in (low, high):
                ax.axvline(x, color='tab:green', ls='--', lw=1)
            ax.plot([], [], color='tab:green', ls='--', lw=1,
                    label=f'{name} {low:g}-{high:g} MFLOPs')
        if cloud:
            ax.scatter([p['flops'] / 1e6 for p in cloud], [p[cloud_key] for p in cloud],
                       s=18, color='0.6', alpha=0.8,
                       label=f'{len(cloud)} sampled paths (seed {data.get("seed", 0)})')
        scored = [e for e in board if e.get(board_key) is not None]
        if scored:
            ax.scatter([e['flops'] / 1e6 for e in scored], [e[board_key] for e in scored],
                       s=36, color='tab:blue', edgecolor='k', lw=0.5, zorder=3,
                       label=f'board ({len(scored)} entries'
                       + (', as recorded on entry)' if board_key == 'score' else ')'))
        if chosen is not None and chosen.get(chosen_key) is not None:
            ax.scatter([chosen['flops'] / 1e6], [chosen[chosen_key]], marker='*', s=260,
                       color='gold', edgecolor='k', lw=0.8, zorder=4,
                       label=f'chosen ({chosen["rule"]} rule): {chosen["arch"]}')
        ax.set(xlabel='MFLOPs', ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='best')
    axes[0][0].set_title('what the board ranks by', fontsize=10)
    axes[0][1].set_title('what the paths are worth', fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    return out


def plot_budgets(result: dict, out: str) -> str:
    """``pareto.png`` of :func:`~.budgets.select_for_budgets`: the held-out
    estimate against predicted latency (FLOPs without a table) of every
    path scored (grey), their Pareto front, each budget (dashed) and the
    path chosen for it (star)."""
    fig, axes = _figure(PARETO_FIGSIZE)
    ax = axes[0][0]
    by_latency = all('latency_ms' in c for c in result['scored'])
    x_of = (lambda c: c['latency_ms']) if by_latency else (lambda c: c['flops'] / 1e6)
    unit = 'ms' if by_latency else 'MFLOPs'
    points = sorted((x_of(c), c['held_out']) for c in result['scored'])
    ax.scatter(*zip(*points), s=18, color='0.6', alpha=0.8,
               label=f'{len(points)} paths scored')
    front, best = [], float('-inf')
    for x, top1 in points:  # sorted by cost: a point is on the front if it beats all cheaper
        if top1 > best:
            front.append((x, top1))
            best = top1
    ax.step(*zip(*front), where='post', color='tab:blue', lw=1, label='Pareto front')
    for i, chosen in enumerate(result['budgets']):
        color = f'C{i + 1}'
        if result['measure'] == 'latency_ms' or not by_latency:
            ax.axvline(chosen['budget'], color=color, ls='--', lw=1)
        # earlier budgets' stars drawn larger: budgets that chose the same path both show
        ax.scatter([x_of(chosen)], [chosen['held_out']], marker='*',
                   s=420 - 100 * min(i, 3), color=color,
                   edgecolor='k', lw=0.8, zorder=4,
                   label=f'budget {chosen["budget"]:g} '
                   f'{"ms" if result["measure"] == "latency_ms" else "MFLOPs"}: '
                   f'{chosen["arch"]}')
    device = next((c['latency_device'] for c in result['scored'] if 'latency_device' in c),
                  None)
    ax.set(xlabel=f'predicted latency ({unit}) on {device}' if by_latency else 'MFLOPs',
           ylabel=f'held-out {result["score_key"]}: inherited weights, BN recalibrated',
           title='one supernet, many budgets')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    return out


def read_scalars(scalars_files) -> list[dict]:
    """mmengine's scalar records (one JSON object a line) of one file or of
    several runs (oldest first), one record a step: a resumed run's records
    replace those of the steps it repeats."""
    if isinstance(scalars_files, str):
        scalars_files = [scalars_files]
    by_step = {}
    for path in scalars_files:
        if not osp.isfile(path):
            raise MissingFileError(f'scalars file {path} does not exist')
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    step = record.get('step', record.get('iter'))
                    if step is not None:
                        by_step.setdefault(step, {}).update(record)
    return [by_step[s] for s in sorted(by_step)]


def plot_training(scalars_file, out: str, title: str = '') -> str:
    """``training.png``: the board's best and worst score (with the sampled
    path's), the loss and the KD loss, and the matching weight, over the
    iterations; a dotted line where the board first held a path. Keys only
    logged after the board's warm-up start there."""
    records = read_scalars(scalars_file)
    if not records:
        raise ConfigError(f'{scalars_file}: no training records to plot')

    def series(key):
        points = [(r['step'], r[key]) for r in records if key in r and 'step' in r]
        return [p[0] for p in points], [p[1] for p in points]

    fig, axes = _figure(TRAINING_FIGSIZE, 3, 1, sharex=True)
    panels = [
        ([('score', 'sampled path', '0.6'), ('board_best', 'board best', 'tab:green'),
          ('board_worst', 'board worst', 'tab:red')], 'board score'),
        ([('loss', 'loss', 'tab:blue'), ('kd_loss', 'KD loss', 'tab:orange')], 'loss'),
        ([('match_weight', 'matching weight', 'tab:purple')], 'matching weight')]
    board_opens = series('board_best')[0][:1]
    for ax, (lines, ylabel) in zip(axes[:, 0], panels):
        drawn = False
        for key, label, color in lines:
            x, y = series(key)
            if x:
                ax.plot(x, y, color=color, lw=1.2 if key != 'score' else 0.8,
                        marker='.' if len(x) < 50 else None, label=label)
                drawn = True
        best, worst = series('board_best'), series('board_worst')
        if ylabel == 'board score' and best[0] and best[0] == worst[0]:
            ax.fill_between(best[0], worst[1], best[1], color='tab:green', alpha=0.1)
        for x in board_opens:
            ax.axvline(x, color='k', ls=':', lw=1)
        if not drawn:
            ax.text(0.5, 0.5, 'not logged (the board never held a path)', ha='center',
                    va='center', transform=ax.transAxes, color='0.4')
        else:
            ax.legend(fontsize=8, loc='best')
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if not title:
        title = 'the search over iterations'
        if board_opens:
            title += f' (dotted: first logged with a board, iteration {board_opens[0]})'
    axes[0, 0].set_title(title, fontsize=10)
    axes[-1, 0].set_xlabel('iteration')
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    return out


# -- one call per picture ------------------------------------------------------
def _board_png(files: dict, out: str, num_paths: int, calib_batches: int, seed: int):
    cfg = Config.fromfile(files['config'])
    model_type = cfg.get('model', {}).get('type')
    if not isinstance(model_type, str) or not issubclass(MODELS.get(model_type) or object,
                                                         PathSearch):
        raise ConfigError(f'{files["config"]}: expected a search config (model type '
                          f'CreamSearch or CreamDetSearch), not {model_type!r}')
    with random_state_kept():  # initial weights and loaders draw from it
        model, scorer = searched_model(cfg, files['checkpoint'], calib_batches)
        if scorer is None:
            raise ConfigError('the search config has no held-out loader (CreamArchHook.'
                              'held_out or held_out_dataloader): the held-out panel needs one')
        data = board_cloud(model, scorer, num_paths, seed, files['board'])
    chosen = chosen_point(files['arch'], data['board'])
    constraint = files['arch'].get('constraint')
    plot_board(data, out, chosen, budget_of(model),
               title=f'{osp.basename(osp.normpath(files["work_dir"]))}: the board in a cloud '
                     f'of sampled paths ({osp.basename(files["checkpoint"])}'
                     + (f', constraint {constraint})' if constraint else ')'))
    data['chosen'] = chosen
    return data


def _check_counts(num_paths: int, calib_batches: int) -> None:
    if num_paths < 0:
        raise ConfigError(f'--num-paths {num_paths}: expected 0 or more')
    if calib_batches < 1:
        raise ConfigError(f'--calib-batches {calib_batches}: expected 1 or more')


def plot_search(work_dir: str, out_dir: Optional[str] = None, num_paths: int = 30,
                calib_batches: int = 10, checkpoint: Optional[str] = None,
                config: Optional[str] = None, seed: int = 0) -> dict:
    """Both pictures of a finished search into ``out_dir`` (default the work
    dir): ``board.png`` and ``training.png``; returns their paths and the
    numbers behind the board (``data``, see :func:`board_cloud`)."""
    _check_counts(num_paths, calib_batches)
    files = search_files(work_dir, config, checkpoint)
    if not files['scalars']:
        raise MissingFileError(f'{work_dir} holds no <run>/vis_data/scalars.json: the '
                               'training picture needs the log of the search')
    files['work_dir'] = work_dir
    out_dir = out_dir or work_dir
    os.makedirs(out_dir, exist_ok=True)
    training = plot_training(files['scalars'], osp.join(out_dir, 'training.png'))
    board = osp.join(out_dir, 'board.png')
    data = _board_png(files, board, num_paths, calib_batches, seed)
    return dict(board=board, training=training, data=data)


def plot_board_of(work_dir: str, num_paths: int = 30, out: Optional[str] = None,
                  calib_batches: int = 10, checkpoint: Optional[str] = None,
                  config: Optional[str] = None, seed: int = 0) -> dict:
    """``board.png`` of a finished search (to ``out``, default in the work
    dir), for a job that wants the picture after its search; returns its
    path (``board``) and the numbers behind it (``data``)."""
    _check_counts(num_paths, calib_batches)
    files = search_files(work_dir, config, checkpoint)
    files['work_dir'] = work_dir
    out = out or osp.join(work_dir, 'board.png')
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    return dict(board=out, data=_board_png(files, out, num_paths, calib_batches, seed))
