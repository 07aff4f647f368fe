"""Does the search find better networks, and could this benchmark tell?
Cream against SPOS on the embedded search (the same supernet, data,
schedule and constraint) at several search seeds and supernet lengths: how
well each supernet ranks archs against the ground truth (archs trained
alone at two seeds or more, scored on images no search sees), beside the
free estimates and the truth's own agreement between seeds (the ceiling);
Cream minus SPOS with a paired bootstrap interval; each method's choices
against random archs within the same constraint; and beside every figure
the smallest difference these archs and seeds could detect. Every run is
kept in the work dir and found there again, so an interrupted benchmark
goes on where it stopped."""
from __future__ import annotations

import json
import os

import numpy as np
from mmengine.runner import Runner

from .proxies import free_estimates
from .ranking import audit_paths, ground_truth, rank_statistics, supernet_estimates, truth_means
from .resolution import gain_over_random, paired_difference, seed_agreement, tau_difference
from ..arch import Arch
from ..errors import ConfigError
from ..selection.choice import choose_arch, searched_model
from ..selection.rerank import rerank, shortened

# name -> distill: SPOS is the same search without a teacher.
METHODS = dict(cream=True, spos=False)


def search_cfg(cfg, method: str, seed: int, work_dir: str, iters: int,
               checkpoint_interval: int = 250):
    """The search config for one run; the board's warm-up and meta-update
    interval keep their shares of the config's length at any other length.
    A long search outlives a session: it keeps its latest checkpoint every
    ``checkpoint_interval`` iterations and resumes from it (mmengine's
    resume, which continues a search exactly)."""
    run = shortened(cfg, os.path.join(work_dir, f'{method}_{iters}it_seed{seed}'), iters)
    run.default_hooks.checkpoint.update(interval=min(iters, checkpoint_interval),
                                        max_keep_ckpts=1)
    run.resume = True
    run.model.update(distill=METHODS[method], seed=seed)
    run.randomness = dict(seed=seed)
    scale = iters / cfg.train_cfg.max_iters
    run.model.update(warmup_iters=max(1, int(cfg.model.warmup_iters * scale)),
                     update_iter=max(2, int(cfg.model.update_iter * scale)))
    return run


def run_search(cfg, logger=print) -> str:
    """The run's last checkpoint, trained now unless it is there."""
    checkpoint = os.path.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    if os.path.isfile(checkpoint):
        logger(f'found {checkpoint}')
    else:
        logger(f'searching: {cfg.work_dir}')
        Runner.from_cfg(cfg).train()
    return checkpoint


def benchmark_search_quality(cfg, work_dir: str, seeds=(0, 1, 2), lengths=(1000, 4000),
                             num_archs: int = 24, truth_iters: int = 500, truth_seeds=(0, 1),
                             calib_batches: int = 10, rerank_k: int = 0, rerank_iters: int = 200,
                             methods=tuple(METHODS), logger=print) -> dict:
    """Cream and SPOS at each of ``seeds`` and ``lengths``; ``num_archs``
    random archs stratified by FLOPs within the constraint, and every
    choice, trained alone ``truth_iters`` iterations at each of
    ``truth_seeds``. With ``rerank_k``, the second stage on each Cream
    supernet of the first length, and the same stage on as many random
    archs (the fair baseline). ``methods`` runs a part: one process per
    method, side by side in one work dir, shares the ground truth's cache;
    a last run with both finds every run and adds Cream - SPOS."""
    if not methods or set(methods) - set(METHODS):
        raise ConfigError(f'methods {list(methods)}: expected some of {list(METHODS)}')
    searches = {}
    for iters in lengths:
        for method in methods:
            for seed in seeds:
                run = search_cfg(cfg, method, seed, work_dir, iters)
                model, scorer = searched_model(run, run_search(run, logger), calib_batches)
                searches[method, iters, seed] = (model, scorer, choose_arch(model)[0])
    model = next(iter(searches.values()))[0]  # for costs and draws, the same in all
    # One audit set for all: the strata depend on the constraint and the cost
    # table, not on the weights. The random archs are these, all within the
    # constraint: what a user drawing at random under the same budget gets.
    paths = {str(model.supernet.arch_of(p)): p
             for p in audit_paths(model, num_archs, seed=0, include_board=False)}
    randoms = list(paths)
    for _, _, chosen in searches.values():
        paths.setdefault(str(chosen), model.supernet.path_of(chosen))
    reranked = {}
    for seed in seeds if rerank_k and 'cream' in methods else ():
        run = search_cfg(cfg, 'cream', seed, work_dir, lengths[0])
        for shortlist in ('estimate', 'random'):
            out = os.path.join(run.work_dir, f'rerank_{shortlist}_{rerank_k}x{rerank_iters}it')
            if os.path.isfile(os.path.join(out, 'arch.json')):
                arch = Arch.load(os.path.join(out, 'arch.json'))
            else:
                arch = rerank(run, run_search(run, logger), out, rerank_k, rerank_iters,
                              seed=seed, calib_batches=calib_batches, shortlist=shortlist,
                              logger=logger)
            reranked[shortlist, seed] = str(arch)
            paths.setdefault(str(arch), model.supernet.path_of(arch))
    archs = [model.supernet.arch_of(p) for p in paths.values()]
    truth = ground_truth(cfg, archs, os.path.join(work_dir, 'ground_truth.json'),
                         os.path.join(work_dir, 'standalone'), truth_iters, truth_seeds,
                         logger=logger)
    means = truth_means(truth)
    audited = {a: means[a] for a in randoms}
    free = free_estimates(cfg, model, [paths[a] for a in randoms])
    result = dict(lengths=list(lengths), seeds=list(seeds), methods=list(methods),
                  truth_iters=truth_iters,
                  truth_seeds=list(truth_seeds), num_archs=num_archs,
                  ceiling=seed_agreement({a: truth[a] for a in randoms}),
                  free_estimates={k: rank_statistics(v, audited)['kendall_tau']
                                  for k, v in free.items()},
                  random_truth=dict(mean=float(np.mean(list(audited.values()))),
                                    sd=float(np.std(list(audited.values()), ddof=1))),
                  supernets={}, comparisons={})
    estimates = {}
    for (method, iters, seed), (search, scorer, chosen) in searches.items():
        name = f'{method}_{iters}it_seed{seed}'
        logger(f'auditing {name}')
        estimates[name] = supernet_estimates(search, [paths[a] for a in randoms], scorer)
        result['supernets'][name] = dict(
            method=method, iters=iters, seed=seed, chosen=str(chosen),
            chosen_mflops=model.cost.flops(paths[str(chosen)]) / 1e6,
            chosen_truth=means[str(chosen)],
            **{k: v for k, v in rank_statistics(estimates[name], audited).items()
               if k in ('kendall_tau', 'spearman_rho', 'top_k_overlap')})
    for iters in lengths:
        runs = {m: [f'{m}_{iters}it_seed{s}' for s in seeds] for m in methods}
        comparison = result['comparisons'][f'{iters}it'] = {
            f'{m}_choice_over_random': gain_over_random(
                [result['supernets'][n]['chosen_truth'] for n in names],
                list(audited.values())) for m, names in runs.items()}
        if len(runs) == len(METHODS):
            comparison['cream_minus_spos_tau'] = tau_difference(
                [estimates[n] for n in runs['cream']], [estimates[n] for n in runs['spos']],
                audited)
    if reranked:
        stage = {kind: [means[reranked[kind, s]] for s in seeds] for kind in ('estimate', 'random')}
        one_stage = [result['supernets'][f'cream_{lengths[0]}it_seed{s}']['chosen_truth']
                     for s in seeds]
        result['comparisons']['rerank'] = dict(
            k=rerank_k, iters=rerank_iters, length=lengths[0],
            cost_iters=rerank_k * rerank_iters, archs={f'{k}_seed{s}': a
                                                      for (k, s), a in reranked.items()},
            two_stage_over_random=gain_over_random(stage['estimate'], list(audited.values())),
            best_of_k_random_over_random=gain_over_random(stage['random'],
                                                          list(audited.values())),
            one_stage_over_random=gain_over_random(one_stage, list(audited.values())),
            two_stage_over_best_of_k_random=paired_difference(
                stage['estimate'], stage['random'], result['random_truth']['sd']),
            two_stage_truth=stage['estimate'], best_of_k_random_truth=stage['random'],
            one_stage_truth=one_stage)
    result['truth'] = truth
    with open(os.path.join(work_dir, 'search_quality.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result



def _interval(r: dict, digits: int = 2) -> str:
    return (f'{r["value"]:+.{digits}f} [{r["ci95"][0]:+.{digits}f}, {r["ci95"][1]:+.{digits}f}]'
            f' (detectable {r["detectable"]:.{digits}f})')


def search_quality_table(result: dict) -> str:
    """The docs' tables: each supernet's ranking beside the ceiling and the
    free estimates, then the comparisons with their resolution."""
    ceiling, free = result['ceiling'], result['free_estimates']
    tau = ceiling['kendall_tau']
    lines = [f'ground truth: {ceiling["archs"]} archs x {ceiling["seeds"]} seeds, '
             f'{result["truth_iters"]} iters alone; tau between seeds {tau["value"]:.2f} '
             f'[{tau["ci95"][0]:.2f}, {tau["ci95"][1]:.2f}]; seed noise sd '
             f'{ceiling["seed_noise_sd"]:.2f}, archs\' spread sd {ceiling["arch_spread_sd"]:.2f}',
             'free estimates: ' + ', '.join(
                 f'{k} tau {v["value"]:.2f} [{v["ci95"][0]:.2f}, {v["ci95"][1]:.2f}]'
                 for k, v in free.items()),
             '',
             '| supernet | Kendall tau-b [95 % CI] | Spearman rho | top-5 overlap | chosen arch '
             '| MFLOPs | its truth |', '|---|---|---|---|---|---|---|']
    for name, r in result['supernets'].items():
        t = r['kendall_tau']
        lines.append(f'| {name} | {t["value"]:.2f} [{t["ci95"][0]:.2f}, {t["ci95"][1]:.2f}] '
                     f'| {r["spearman_rho"]["value"]:.2f} | {r["top_k_overlap"]["value"]:.2f} '
                     f'| `{r["chosen"]}` | {r["chosen_mflops"]:.2f} | {r["chosen_truth"]:.2f} |')
    random = result['random_truth']
    lines += ['', f'random archs within the constraint: {random["mean"]:.2f} ± {random["sd"]:.2f}',
              '', '| comparison | difference [95 % CI] (smallest detectable) |', '|---|---|']
    for length, c in result['comparisons'].items():
        if length == 'rerank':
            continue
        if 'cream_minus_spos_tau' in c:
            lines.append(f'| {length}: Cream - SPOS, tau | {_interval(c["cream_minus_spos_tau"])} |')
        for m in (m for m in METHODS if f'{m}_choice_over_random' in c):
            lines.append(f'| {length}: {m} choices - random archs | '
                         f'{_interval(c[f"{m}_choice_over_random"])} |')
    if 'rerank' in result['comparisons']:
        c = result['comparisons']['rerank']
        for key, label in (('one_stage_over_random', 'one stage'),
                           ('two_stage_over_random', f'two stages ({c["k"]} x {c["iters"]} it)'),
                           ('best_of_k_random_over_random', f'best of {c["k"]} random, same stage')):
            lines.append(f'| {c["length"]}it Cream, {label} - random archs | '
                         f'{_interval(c[key])} |')
        lines.append(f'| {c["length"]}it Cream, two stages - best of {c["k"]} random, paired by '
                     f'seed | {_interval(c["two_stage_over_best_of_k_random"])} |')
    return '\n'.join(lines)
