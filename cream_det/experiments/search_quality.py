"""Does the search find better networks? Cream against SPOS on the embedded
search, the same supernet, data, schedule, constraint and seeds: how well
each supernet ranks archs (against archs trained alone), and how the arch
each chose compares with random archs of equal cost, trained the same way;
and, for one seed, the meta-matching teacher against the board's best.
Every run is kept in the work dir and skipped when found there, so an
interrupted benchmark goes on where it stopped."""
from __future__ import annotations

import json
import os
import statistics

import torch
from mmengine.runner import Runner

from .ranking import audit_paths, ground_truth, rank_statistics, supernet_estimates, shortened
from ..selection.choice import choose_arch, searched_model

# name -> (distill, pick_method)
METHODS = dict(cream=(True, 'meta'), spos=(False, 'meta'), cream_top1=(True, 'top1'))


def search_cfg(cfg, method: str, seed: int, work_dir: str, iters: int):
    distill, pick_method = METHODS[method]
    run = shortened(cfg, os.path.join(work_dir, f'{method}_seed{seed}'), iters)
    run.model.update(distill=distill, pick_method=pick_method, seed=seed)
    run.randomness = dict(seed=seed)
    warmup, update = run.model.warmup_iters, run.model.update_iter
    if iters < cfg.train_cfg.max_iters:  # --quick: the same shares of the run
        scale = iters / cfg.train_cfg.max_iters
        run.model.update(warmup_iters=max(1, int(warmup * scale)),
                         update_iter=max(2, int(update * scale)))
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


def equal_cost(model, paths, flops: float, tolerance: float = 0.1) -> list:
    return [p for p in paths if abs(model.cost.flops(p) - flops) <= tolerance * flops]


def benchmark_search_quality(cfg, work_dir: str, seeds=(0, 1), iters: int = 1000,
                             num_archs: int = 24, truth_iters: int = 500, random_archs: int = 5,
                             calib_batches: int = 10, logger=print) -> dict:
    runs = [(m, s) for m in ('cream', 'spos') for s in seeds] + [('cream_top1', seeds[0])]
    supernets = {}
    for method, seed in runs:
        run = search_cfg(cfg, method, seed, work_dir, iters)
        # The scorer's loaders are the same for every run: the config's data.
        search, scorer = searched_model(run, run_search(run, logger), calib_batches)
        supernets[f'{method}_seed{seed}'] = (search, choose_arch(search)[0])
    model = next(iter(supernets.values()))[0]  # for costs and draws, the same in all
    # One audit set for all: the strata depend on the constraint and the cost
    # table, not on the weights; the choices are added to it.
    randoms = audit_paths(model, num_archs, seed=0, include_board=False)
    audited = [str(model.supernet.arch_of(p)) for p in randoms]
    generator = torch.Generator().manual_seed(1)
    choices = [model.supernet.path_of(chosen) for _, chosen in supernets.values()]
    for path in choices:
        # Random archs of the choice's cost: the audited ones within 10 %,
        # and more drawn if they are too few.
        near = [p for p in equal_cost(model, randoms, model.cost.flops(path)) if p != path]
        for _ in range(1000):
            if len(near) >= random_archs:
                break
            drawn = model.draw_path(generator)
            if equal_cost(model, [drawn], model.cost.flops(path)) and drawn != path:
                randoms.append(drawn)
                near.append(drawn)
    paths = list({str(p): p for p in randoms + choices}.values())
    archs = [model.supernet.arch_of(p) for p in paths]
    truth = ground_truth(cfg, archs, scorer, os.path.join(work_dir, 'ground_truth.json'),
                         os.path.join(work_dir, 'standalone'), truth_iters, logger)
    result = dict(iters=iters, truth_iters=truth_iters, seeds=list(seeds), num_archs=num_archs,
                  supernets={})
    for name, (search, chosen) in supernets.items():
        logger(f'auditing {name}')
        estimates = supernet_estimates(search, paths, scorer)
        ranking = rank_statistics({a: estimates[a] for a in {*audited, str(chosen)}},
                                  truth, chosen=str(chosen))
        path = model.supernet.path_of(chosen)
        peers = [truth[str(model.supernet.arch_of(p))]
                 for p in equal_cost(model, randoms, model.cost.flops(path)) if p != path]
        result['supernets'][name] = dict(
            chosen=str(chosen), chosen_mflops=model.cost.flops(path) / 1e6,
            chosen_truth=truth[str(chosen)],
            random_equal_cost=dict(n=len(peers), mean=statistics.mean(peers),
                                   std=statistics.stdev(peers) if len(peers) > 1 else 0.,
                                   beaten=sum(truth[str(chosen)] > t for t in peers)),
            **{k: ranking[k] for k in ('kendall_tau', 'spearman_rho', 'top_k_overlap',
                                       'chosen_true_rank')})
    result['truth'] = {str(a): truth[str(a)] for a in archs}
    with open(os.path.join(work_dir, 'search_quality.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def search_quality_table(result: dict) -> str:
    """The README's table."""
    rows = ['| supernet | Kendall tau-b [95 % CI] | Spearman rho | top-5 overlap | chosen arch '
            '| MFLOPs | trained alone | its true rank | random archs of its cost |',
            '|---|---|---|---|---|---|---|---|---|']
    for name, r in result['supernets'].items():
        tau, rank, peers = r['kendall_tau'], r['chosen_true_rank'], r['random_equal_cost']
        rows.append(
            f'| {name} | {tau["value"]:.2f} [{tau["ci95"][0]:.2f}, {tau["ci95"][1]:.2f}] '
            f'| {r["spearman_rho"]["value"]:.2f} | {r["top_k_overlap"]["value"]:.2f} '
            f'| `{r["chosen"]}` | {r["chosen_mflops"]:.2f} | {r["chosen_truth"]:.2f} % '
            f'| {rank["value"]} of {rank["of"]} | {peers["mean"]:.2f} ± {peers["std"]:.2f} % '
            f'(n={peers["n"]}, beats {peers["beaten"]}) |')
    return '\n'.join(rows)
