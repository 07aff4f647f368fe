"""Does the supernet rank archs as training them alone would? The ranking
audit of any search: for a set of archs spread over the budget, the
supernet's estimate (inherited weights, BatchNorm recalibrated, the search's
held-out score: top-1, bbox mAP) against the ground truth (the arch trained
alone in the same config, scored the same way), with rank correlations and
bootstrap intervals."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings

import numpy as np
import torch
from mmengine.runner import Runner
from scipy import stats

from ..archs import resolve_arch
from ..errors import ConfigError
from ..selection.choice import choose_arch, searched_model
from ..selection.scoring import PathScorer


def audit_paths(model, num: int, seed: int = 0, include_board: bool = True) -> list:
    """``num`` paths stratified by FLOPs (one from each of ``num`` equal
    shares of 20 x ``num`` seeded draws within the constraint, sorted by
    FLOPs), then the board's entries; no path twice."""
    generator = torch.Generator().manual_seed(seed)
    pool = sorted((model.draw_path(generator) for _ in range(20 * num)), key=model.cost.flops)
    paths = []
    for i in range(num):
        stratum = pool[i * len(pool) // num:(i + 1) * len(pool) // num]
        paths.append(stratum[int(torch.randint(len(stratum), (), generator=generator))])
    if include_board:
        paths += [model.board.path(i) for i in range(len(model.board))]
    unique = {str(p): p for p in paths}
    return list(unique.values())


def standalone_cfg(cfg, arch, work_dir: str, iters: int):
    """The search config turned into the training of ``arch`` alone
    (``sampling='fixed'``): the same data, augmentation, optimiser and
    schedule as the supernet's, for ``iters`` iterations. With entangled
    weights the trained path is exactly the child network."""
    cfg = shortened(cfg, work_dir, iters)
    cfg.model.update(sampling='fixed', fixed_arch=arch.to_dict(), warmup_iters=iters,
                     constraint=None)
    cfg.custom_hooks = []
    return cfg


def shortened(cfg, work_dir: str, iters: int):
    """A copy of a search config that runs ``iters`` iterations in
    ``work_dir``, its schedule ending with them, one checkpoint at the end."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.train_cfg.max_iters = iters
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in [schedulers] if isinstance(schedulers, dict) else schedulers:
        scheduler.end = iters
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    return cfg


def recipe_key(cfg, iters: int) -> str:
    """Names the stand-alone recipe in the ground-truth cache: the config's
    text (less its work dir) and the iterations."""
    text = copy.deepcopy(cfg)
    text.work_dir = ''
    return hashlib.sha1(f'{text.pretty_text}\n{iters}'.encode()).hexdigest()[:12]


def ground_truth(cfg, archs: list, scorer: PathScorer, cache_file: str, work_dir: str,
                 iters: int, logger=print) -> dict:
    """The held-out score of each arch trained alone, from the cache where
    it is there (per arch and per recipe), else trained now and added to it."""
    key = recipe_key(cfg, iters)
    cache = {}
    if os.path.isfile(cache_file):
        with open(cache_file) as f:
            cache = json.load(f)
    truth = cache.setdefault(key, {})
    for i, arch in enumerate(archs):
        name = str(arch)
        if name in truth:
            continue
        logger(f'ground truth {i + 1}/{len(archs)}: training {name} alone for {iters} iters')
        runner = Runner.from_cfg(standalone_cfg(cfg, arch, os.path.join(work_dir, f'arch_{i}'),
                                                iters))
        runner.train()
        truth[name] = scorer(runner.model, runner.model.fixed_path)
        os.makedirs(os.path.dirname(os.path.abspath(cache_file)), exist_ok=True)
        with open(cache_file, 'w') as f:  # after each arch: an interrupted run loses one
            json.dump(cache, f, indent=1)
    return {str(a): truth[str(a)] for a in archs}


def supernet_estimates(model, paths: list, scorer: PathScorer) -> dict:
    return {str(model.supernet.arch_of(p)): scorer(model, p) for p in paths}


def _top_k_overlap(estimate, truth, k: int) -> float:
    return len(set(np.argsort(-estimate)[:k]) & set(np.argsort(-truth)[:k])) / k


def _rank_of(values, i: int) -> int:
    """1 for the best."""
    return int((values > values[i]).sum()) + 1


def rank_statistics(estimates: dict, truth: dict, chosen: str = None, k: int = 5,
                    bootstrap: int = 1000, seed: int = 0) -> dict:
    """Kendall tau-b, Spearman rho, top-k overlap and the chosen arch's true
    rank, each with a bootstrap 95 % interval over the archs."""
    names = sorted(estimates)
    est = np.array([estimates[n] for n in names])
    tru = np.array([truth[n] for n in names])
    k = min(k, len(names))

    def measures(index):
        e, t = est[index], tru[index]
        with warnings.catch_warnings():  # a resample of equal values: NaN, dropped below
            warnings.simplefilter('ignore', stats.ConstantInputWarning)
            return dict(kendall_tau=stats.kendalltau(e, t).statistic,
                        spearman_rho=stats.spearmanr(e, t).statistic,
                        top_k_overlap=_top_k_overlap(e, t, k))

    result = {name: dict(value=float(v)) for name, v in measures(np.arange(len(names))).items()}
    rng = np.random.default_rng(seed)
    samples = [measures(rng.integers(len(names), size=len(names))) for _ in range(bootstrap)]
    for name in result:
        values = np.array([s[name] for s in samples], dtype=float)
        values = values[np.isfinite(values)]  # a resample of equal values has no tau
        # Constant estimates or truth (a detector too short-trained to keep a
        # box) leave no finite resample: no interval.
        result[name]['ci95'] = ([float(np.percentile(values, 2.5)),
                                 float(np.percentile(values, 97.5))] if len(values)
                                else [float('nan')] * 2)
    result['top_k_overlap']['k'] = k
    if chosen is not None:
        i = names.index(chosen)
        others = np.delete(np.arange(len(names)), i)
        ranks = [_rank_of(tru[np.r_[i, rng.choice(others, size=len(others))]], 0)
                 for _ in range(bootstrap)]
        result['chosen_true_rank'] = dict(
            value=_rank_of(tru, i), of=len(names),
            ci95=[float(np.percentile(ranks, 2.5)), float(np.percentile(ranks, 97.5))])
    result['archs'] = [dict(arch=n, estimate=estimates[n], truth=truth[n]) for n in names]
    return result


def plot_ranking(result: dict, out: str, chosen: str = None, title: str = '') -> None:
    """Estimate against truth, one point per arch, the chosen arch marked."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4.5))
    archs = result['archs']
    ax.scatter([a['truth'] for a in archs], [a['estimate'] for a in archs], s=18,
               label='audited archs')
    for a in archs:
        if a['arch'] == chosen:
            ax.scatter([a['truth']], [a['estimate']], marker='*', s=180, color='C3',
                       label='the search\'s choice', zorder=3)
    tau = result['kendall_tau']
    key = result.get('score_key', 'score')
    ax.set(xlabel=f'trained alone: held-out {key}',
           ylabel=f'supernet estimate: held-out {key}',
           title=title or f'Kendall tau-b {tau["value"]:.2f} '
                          f'[{tau["ci95"][0]:.2f}, {tau["ci95"][1]:.2f}]')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)



def audit(cfg, checkpoint: str, out_dir: str, num_archs: int = 24, truth_iters: int = 300,
          cache_file: str = None, calib_batches: int = 10, seed: int = 0,
          include_board: bool = True, extra_archs: tuple = (), logger=print) -> dict:
    """The ranking audit of one search checkpoint: the audited archs (FLOPs
    strata, the board, the search's official choice, ``extra_archs``), the
    supernet's estimates, the ground truth (cached in ``cache_file``), the
    statistics; ``rank_correlation.json`` and ``.png`` in ``out_dir``."""
    model, scorer = searched_model(cfg, checkpoint, calib_batches)
    if scorer is None:
        raise ConfigError('the ranking audit needs a held-out loader: a CreamArchHook with '
                          'held_out=..., or held_out_dataloader in the config')
    chosen = choose_arch(model)[0]
    paths = audit_paths(model, num_archs, seed, include_board)
    paths += [model.supernet.path_of(chosen)] + [model.supernet.path_of(resolve_arch(a))
                                                 for a in extra_archs]
    paths = list({str(p): p for p in paths}.values())
    logger(f'supernet estimates of {len(paths)} archs')
    estimates = supernet_estimates(model, paths, scorer)
    cache_file = cache_file or os.path.join(out_dir, 'ground_truth.json')
    truth = ground_truth(cfg, [model.supernet.arch_of(p) for p in paths], scorer, cache_file,
                         os.path.join(out_dir, 'standalone'), truth_iters, logger)
    result = rank_statistics(estimates, truth, chosen=str(chosen))
    by_name = {str(model.supernet.arch_of(p)): p for p in paths}
    for entry in result['archs']:
        entry['flops'] = model.cost.flops(by_name[entry['arch']])
    result.update(checkpoint=checkpoint, chosen=str(chosen), truth_iters=truth_iters,
                  score_key=scorer.score_key,
                  recipe=recipe_key(cfg, truth_iters), ground_truth_cache=cache_file)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'rank_correlation.json'), 'w') as f:
        json.dump(result, f, indent=1)
    plot_ranking(result, os.path.join(out_dir, 'rank_correlation.png'), chosen=str(chosen))
    return result
