"""How long must an arch train alone for the ground truth to resolve? The
same archs trained at each length with two seeds or more: the truth's
agreement between its seeds (the ceiling of any rank correlation against
it), its noise beside the archs' spread, and the free estimates' tau at
each length. The shortest length whose ceiling reaches the target is the
truth's recipe for the search-quality benchmark, which shares the cache."""
from __future__ import annotations

import copy
import json
import os

from mmengine.registry import MODELS

from .proxies import free_estimates
from .ranking import audit_paths, ground_truth, truth_means
from .resolution import kendall_tau, seed_agreement


def truth_sweep(cfg, lengths, work_dir: str, num_archs: int = 12, seeds=(0, 1),
                whole_space: bool = False, logger=print) -> dict:
    """``num_archs`` archs stratified by FLOPs within the config's
    constraint (or, ``whole_space``, over the supernet's budget) trained
    alone for each of ``lengths`` iterations at each of ``seeds``;
    ``truth_sweep.json`` in ``work_dir``. With one seed (a process of its
    own beside one per other seed, sharing the cache) it trains and reports
    no ceiling."""
    cfg = copy.deepcopy(cfg)
    if whole_space:
        cfg.model.constraint = None
    model = MODELS.build(cfg.model)  # untrained: for the costs and the draws
    paths = audit_paths(model, num_archs, seed=0, include_board=False)
    archs = [model.supernet.arch_of(p) for p in paths]
    free = free_estimates(cfg, model, paths)
    rows = []
    for iters in lengths:
        truth = ground_truth(cfg, archs, os.path.join(work_dir, 'ground_truth.json'),
                             os.path.join(work_dir, 'standalone'), iters, seeds, logger=logger)
        means = truth_means(truth)
        names = sorted(means)
        rows.append(dict(iters=iters, ceiling=seed_agreement(truth) if len(seeds) > 1 else None,
                         truth_range=[min(means.values()), max(means.values())],
                         free_estimates={k: kendall_tau([v[n] for n in names],
                                                        [means[n] for n in names])
                                         for k, v in free.items()},
                         truth=truth))
    flops = [model.cost.flops(p) / 1e6 for p in paths]
    result = dict(rows=rows, seeds=list(seeds), whole_space=whole_space,
                  mflops=[min(flops), max(flops)], archs=[str(a) for a in archs])
    with open(os.path.join(work_dir, 'truth_sweep.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def truth_sweep_table(result: dict) -> str:
    rows = ['| stand-alone iters | archs x seeds | truth (mean of seeds) | tau between seeds '
            '[95 % CI] | seed noise sd | archs\' spread sd | tau of FLOPs | of params | of SNIP |',
            '|---|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        c, free = r['ceiling'], r['free_estimates']
        if c is None:
            archs = f'{len(r["truth"])} x 1'
            ceiling = 'needs 2 seeds | - | -'
        else:
            tau = c['kendall_tau']
            archs = f'{c["archs"]} x {c["seeds"]}'
            ceiling = (f'{tau["value"]:.2f} [{tau["ci95"][0]:.2f}, {tau["ci95"][1]:.2f}] | '
                       f'{c["seed_noise_sd"]:.2f} | {c["arch_spread_sd"]:.2f}')
        rows.append(f'| {r["iters"]} | {archs} | {r["truth_range"][0]:.2f}'
                    f'-{r["truth_range"][1]:.2f} | {ceiling} | {free["flops"]:.2f} | '
                    f'{free["params"]:.2f} | {free["snip"]:.2f} |')
    return '\n'.join(rows)
