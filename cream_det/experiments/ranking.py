"""Does the supernet rank archs as training them alone would? The ranking
audit of any search: for a set of archs spread over the budget, the
supernet's estimate (inherited weights, BatchNorm recalibrated, the search's
held-out score: top-1, bbox mAP) against the ground truth (the arch trained
alone in the same config, scored the same way), with rank correlations and
bootstrap intervals."""
from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import re
import warnings
from typing import Optional

import numpy as np
import torch
from mmengine.runner import Runner
from scipy import stats

from ..archs import resolve_arch
from ..errors import ConfigError
from ..selection.choice import arch_hook_setting, choose_arch, held_out_cfg, searched_model
from ..selection.rerank import standalone_cfg
from ..selection.scoring import PathScorer
from .proxies import free_estimates
from .resolution import seed_agreement


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


def truth_loader_cfg(cfg) -> dict:
    """What ground truth is scored on: the config's ``truth_dataloader``
    (images no search sees, e.g. the test split), else its held-out loader."""
    loader = cfg.get('truth_dataloader') or held_out_cfg(cfg)
    if loader is None:
        raise ConfigError('ground truth needs images to score on: truth_dataloader or a '
                          'held-out loader in the config')
    return loader


def recipe_key(cfg, iters: int) -> str:
    """Names the stand-alone recipe in the ground-truth cache: the config's
    text (less its work dir; the truth's loader included), the iterations."""
    text = copy.deepcopy(cfg)
    text.work_dir = ''
    text.model.constraint = None  # what a stand-alone training drops (standalone_cfg)
    text.custom_hooks = []
    return hashlib.sha1(f'{text.pretty_text}\n{iters}\n{truth_loader_cfg(cfg)}'.encode()
                        ).hexdigest()[:12]


def _load_cache(cache_file: str) -> dict:
    if not os.path.isfile(cache_file):
        return {}
    with open(cache_file) as f:
        return json.load(f)


def _record(cache_file: str, recipe: str, arch: str, seed: int, score: float) -> dict:
    """Adds one training's score to the cache file and returns the file's
    whole content. The file is re-read under a lock and replaced whole, so
    several processes sharing it (one per seed on a machine of several
    cores) keep each other's trainings, and none ever sees half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(cache_file)), exist_ok=True)
    with open(cache_file + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the lock file closes
        cache = _load_cache(cache_file)
        cache.setdefault(recipe, {}).setdefault(arch, {})[str(seed)] = score
        with open(cache_file + '.partial', 'w') as f:
            json.dump(cache, f, indent=1)
        os.replace(cache_file + '.partial', cache_file)
    return cache


def run_dir_name(arch, seed: int) -> str:
    """A stand-alone training's folder, named by its arch and seed (not by
    its place in a list), so processes that share a work dir never train
    into one folder."""
    return re.sub(r'\W+', '-', str(arch)).strip('-') + f'_seed{seed}'


def ground_truth(cfg, archs: list, cache_file: str, work_dir: str, iters: int,
                 seeds=(0,), calib_batches: Optional[int] = None, logger=print) -> dict:
    """Each arch trained alone once per seed and scored on the truth's
    images (:func:`truth_loader_cfg`): ``{arch: [score of each seed]}``,
    from the cache where it is there (per recipe, arch and seed), else
    trained now and added to it after each run, so an interrupted run loses
    one training at most. The cache is read again before each training, so
    processes that share it (``--seeds 0`` and ``--seeds 1`` side by side)
    skip what another has finished."""
    key = recipe_key(cfg, iters)
    cache = _load_cache(cache_file)
    scorer = None
    for i, arch in enumerate(archs):
        for seed in seeds:
            cache = _load_cache(cache_file)
            if str(seed) in cache.get(key, {}).get(str(arch), {}):
                continue
            logger(f'ground truth {i + 1}/{len(archs)}, seed {seed}: training {arch} alone '
                   f'for {iters} iters')
            runner = Runner.from_cfg(standalone_cfg(
                cfg, arch, os.path.join(work_dir, run_dir_name(arch, seed)), iters, seed))
            runner.train()
            if scorer is None:
                scorer = PathScorer.build(runner.model, cfg.train_dataloader,
                                          truth_loader_cfg(cfg), calib_batches,
                                          arch_hook_setting(cfg, 'metric'),
                                          arch_hook_setting(cfg, 'score_key'))
            cache = _record(cache_file, key, str(arch), seed,
                            scorer(runner.model, runner.model.fixed_path))
    recipe = cache.get(key, {})
    return {str(a): [recipe[str(a)][str(s)] for s in seeds] for a in archs}


def truth_means(truth: dict) -> dict:
    """One figure per arch: the mean over its seeds."""
    return {arch: float(np.mean(scores)) for arch, scores in truth.items()}


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
          include_board: bool = True, extra_archs: tuple = (), truth_seeds=(0,),
          logger=print) -> dict:
    """The ranking audit of one search checkpoint: the audited archs (FLOPs
    strata, the board, the search's official choice, ``extra_archs``), the
    supernet's estimates and the free estimates (FLOPs, parameters, a
    zero-cost proxy), the ground truth (each arch trained alone at each of
    ``truth_seeds``, cached in ``cache_file``; its mean is the truth), the
    statistics, and with two seeds or more the truth's own agreement between
    seeds, the ceiling any estimate can reach; ``rank_correlation.json`` and
    ``.png`` in ``out_dir``."""
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
    truth = ground_truth(cfg, [model.supernet.arch_of(p) for p in paths], cache_file,
                         os.path.join(out_dir, 'standalone'), truth_iters, truth_seeds,
                         logger=logger)
    result = rank_statistics(estimates, truth_means(truth), chosen=str(chosen))
    result['free_estimates'] = {
        name: rank_statistics(values, truth_means(truth))['kendall_tau']
        for name, values in free_estimates(cfg, model, paths).items()}
    if len(truth_seeds) > 1:
        result['ceiling'] = seed_agreement(truth)
    by_name = {str(model.supernet.arch_of(p)): p for p in paths}
    for entry in result['archs']:
        entry['flops'] = model.cost.flops(by_name[entry['arch']])
        entry['truth_seeds'] = truth[entry['arch']]
    result.update(checkpoint=checkpoint, chosen=str(chosen), truth_iters=truth_iters,
                  truth_seeds=list(truth_seeds), score_key=scorer.score_key,
                  recipe=recipe_key(cfg, truth_iters), ground_truth_cache=cache_file)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'rank_correlation.json'), 'w') as f:
        json.dump(result, f, indent=1)
    plot_ranking(result, os.path.join(out_dir, 'rank_correlation.png'), chosen=str(chosen))
    return result
