"""A second stage after the search, priced: the supernet's estimate only
shortlists. The ``k`` candidates it scores best (the board's entries the
search admits and paths drawn within its constraint, each scored on
held-out images with inherited weights, BatchNorm recalibrated) are each
trained further on their own path for ``iters`` iterations, from the
weights they inherit (or, ``from_scratch``, alone from initialisation), and
scored again the same way; the best is kept. The stage costs ``k x iters``
training iterations, which ``arch.json`` records. It serves any search:
the training is the search config's own, its path fixed."""
from __future__ import annotations

import copy
import json
import os
from typing import Optional

import torch
from mmengine.runner import Runner

from ..arch import Arch
from ..errors import ConfigError
from .choice import searched_model


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


def standalone_cfg(cfg, arch: Arch, work_dir: str, iters: int, seed: int = 0,
                   init_checkpoint: Optional[str] = None):
    """The search config turned into the training of ``arch`` alone
    (``sampling='fixed'``): the same data, augmentation, optimiser and
    schedule as the supernet's, for ``iters`` iterations, fed from
    ``seed``, initialised from ``seed`` or from a search checkpoint's
    weights. With entangled weights the trained path is exactly the child
    network."""
    cfg = shortened(cfg, work_dir, iters)
    cfg.model.update(sampling='fixed', fixed_arch=arch.to_dict(), warmup_iters=iters,
                     constraint=None, seed=seed)
    cfg.randomness = dict(seed=seed)
    cfg.custom_hooks = []
    cfg.resume, cfg.load_from = False, init_checkpoint  # weights only, a run of its own
    return cfg


def rerank(cfg, checkpoint: str, out_dir: str, k: int, iters: int, num_paths: int = 20,
           seed: int = 0, from_scratch: bool = False, calib_batches: Optional[int] = None,
           shortlist: str = 'estimate', logger=print) -> Arch:
    """The second stage on a search checkpoint; ``arch.json`` and
    ``rerank.json`` (every candidate, its estimate and its second score) in
    ``out_dir``. ``shortlist='random'`` takes ``k`` drawn paths instead of
    the best estimates: the fair baseline, the same stage without the
    supernet's ranking."""
    if shortlist not in ('estimate', 'random'):
        raise ConfigError(f"shortlist={shortlist!r}: expected 'estimate' or 'random'")
    if k < 1 or iters < 1:
        raise ConfigError(f'--rerank {k} --rerank-iters {iters}: expected 1 or more of each')
    model, scorer = searched_model(cfg, checkpoint, calib_batches)
    if scorer is None:
        raise ConfigError('the second stage scores on held-out images: the search config '
                          'needs a held-out loader (its CreamArchHook held_out=...)')
    generator = torch.Generator().manual_seed(seed)
    drawn = [model.draw_path(generator) for _ in range(num_paths if shortlist == 'estimate' else k)]
    pool = drawn if shortlist == 'random' else [
        model.board.path(i) for i in range(len(model.board))
        if model.admits(model.board.path(i))] + drawn
    pool = list({str(p): p for p in pool}.values())
    logger(f'second stage: scoring {len(pool)} candidates with inherited weights')
    estimates = [(scorer(model, p), i) for i, p in enumerate(pool)]
    if shortlist == 'estimate':
        estimates.sort(reverse=True)
    candidates = []
    for rank, (estimate, i) in enumerate(estimates[:k]):
        arch = model.supernet.arch_of(pool[i])
        logger(f'second stage {rank + 1}/{k}: training {arch} for {iters} iters')
        runner = Runner.from_cfg(standalone_cfg(
            cfg, arch, os.path.join(out_dir, 'rerank', f'candidate_{rank}'), iters, seed,
            None if from_scratch else checkpoint))
        runner.train()
        candidates.append(dict(arch=str(arch), path=pool[i], flops=model.cost.flops(pool[i]),
                               estimate=estimate, score=scorer(runner.model, pool[i])))
    best = max(candidates, key=lambda c: c['score'])
    arch = model.supernet.arch_of(best['path'])
    arch.meta.update(
        flops=best['flops'], params=model.cost.params(best['path']), rule='rerank',
        score_key=scorer.score_key, held_out=best['score'], estimate=best['estimate'],
        checkpoint=checkpoint,
        rerank=dict(k=k, iters=iters, from_scratch=from_scratch, pool=len(pool), shortlist=shortlist,
                    cost_iters=k * iters, search_iters=cfg.train_cfg.get('max_iters')))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'rerank.json'), 'w') as f:
        json.dump(dict(score_key=scorer.score_key, k=k, iters=iters, candidates=candidates), f,
                  indent=1)
    arch.dump(os.path.join(out_dir, 'arch.json'))
    return arch
