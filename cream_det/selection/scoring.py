"""How good one path of a trained supernet is, the same way for every
search: a network of its own running the path with the weights it inherits
(the search's :meth:`~cream_det.search.PathSearch.path_network`), its
BatchNorm statistics re-estimated on a few training batches (the
supernet's statistics are shared by all paths through a block, so they fit
no single path), then the search's metric on held-out images: top-1 for a
classifier, ``coco/bbox_mAP`` for a detector, or any mmengine metric and
key a config names. The arch hook, ``select_arch``, the budgets, the
pictures and the audits all score paths with a :class:`PathScorer`."""
from __future__ import annotations

import copy
import random
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Optional

import numpy as np
import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm

from ..arch import OpPath
from ..errors import ConfigError


# Beyond this, a held-out set is read again for every path it scores.
HELD_OUT_CACHE_BYTES = 2 ** 30


def batch_bytes(batch) -> int:
    """The bytes of a loader batch's tensors (its images; the data samples'
    annotations are small beside them)."""
    inputs = batch['inputs']  # mmengine's pseudo_collate: a tensor or a list of them
    tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


class ReplayedLoader:
    """A held-out loader read once and then replayed. Its batches are the
    same for every path (no shuffle, test pipeline), and reading and
    transforming them cost more than scoring a small network on them: 22 s
    of the 36 s a path took on the embedded search's 10,000 images. A set
    whose batches pass ``max_bytes`` is streamed every time instead.
    (mmengine's loaders have no such cache: a runner reads its val set once
    per evaluation.)"""

    def __init__(self, loader, max_bytes: int = HELD_OUT_CACHE_BYTES):
        self.loader, self.max_bytes = loader, max_bytes
        self.batches = None  # after a whole pass that fitted in max_bytes
        self.streamed = False

    @property
    def dataset(self):
        return self.loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        if self.batches is not None:
            yield from self.batches
            return
        kept, size = [], 0
        for batch in self.loader:
            if not self.streamed:
                size += batch_bytes(batch)
                # A copy in this process's memory: a batch from a worker
                # holds a file descriptor per tensor (10,000 images at
                # pseudo_collate's one tensor each), and a second replayed
                # set ran past the 20,000 a process may open.
                kept.append(copy.deepcopy(batch))
                if size > self.max_bytes:
                    self.streamed, kept = True, []
            yield batch
        if not self.streamed:
            self.batches = kept


def calibration_loader(train_dataloader: dict):
    """A fresh, finite loader over the training set. (The training loader
    itself will not do: mmengine's InfiniteSampler yields nothing more once
    an iterator over it has been dropped.)"""
    cfg = copy.deepcopy(dict(train_dataloader))
    cfg.update(sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
               persistent_workers=False)
    return Runner.build_dataloader(cfg)


@contextmanager
def random_state_kept():
    """Whatever runs inside (a sampler draws its seed from numpy, a loader
    seeds its workers from torch) leaves the caller's torch, numpy and Python
    random states as they were."""
    states = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])


@contextmanager
def seeded(seed: int):
    """Random augmentation drawn from ``seed``, the caller's random state
    untouched: every path is calibrated on the same images, whenever and
    wherever it is scored (at the end of a search, or from a checkpoint)."""
    with random_state_kept():
        torch.manual_seed(seed)
        random.seed(seed)
        yield


def recalibrated_metrics(net, calib_loader, eval_loader, evaluator: Evaluator,
                         calib_batches: int) -> dict:
    """``evaluator``'s results (keys as mmengine reports them, e.g.
    ``accuracy/top1``, ``coco/bbox_mAP``) of ``net`` after re-estimating
    every BatchNorm statistic on ``calib_batches`` training batches. ``net``
    is changed. The metric is computed on this process alone (not gathered
    over ranks), so that one rank can score while the others wait."""
    norms = [m for m in net.modules() if isinstance(m, _BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the calibration batches
    net.train()
    for m in norms:  # norm_eval and frozen stages included: all were reset
        m.train()
    preprocess = net.data_preprocessor
    seen = 0
    with torch.no_grad(), seeded(0):
        for batch in islice(calib_loader, calib_batches):
            net(preprocess(batch, False)['inputs'], mode='tensor')
            seen += 1
        if seen == 0:
            raise RuntimeError('BatchNorm recalibration saw no batch: the loader is empty')
        net.eval()
        for batch in eval_loader:
            data = preprocess(batch, False)
            evaluator.process(net(**data, mode='predict'), batch)
    results = {}
    for m in evaluator.metrics:
        results.update({f'{m.prefix}/{k}' if m.prefix else k: float(v)
                        for k, v in m.compute_metrics(m.results).items()})
        m.results.clear()
    return results


@dataclass
class PathScorer:
    """What a search's paths are scored on and by: the calibration and
    held-out loaders, the number of calibration batches, the evaluator of
    the metric and the key of its results that is the score (higher is
    better). Built in the config's registry scope (mmdet's metrics are
    found there), it scores paths in any scope."""
    calib_loader: object
    eval_loader: object
    calib_batches: int
    evaluator: Evaluator
    score_key: str

    @classmethod
    def build(cls, model, train_dataloader: dict, held_out: dict,
              calib_batches: Optional[int] = None, metric: Optional[dict] = None,
              score_key: Optional[str] = None) -> 'PathScorer':
        """The scorer of a search ``model`` on ``held_out`` (a loader
        config), each setting not given taken from the search's
        ``selection_defaults``."""
        defaults = model.selection_defaults
        calib_batches = calib_batches or defaults['calib_batches']
        if calib_batches < 1:
            raise ConfigError(f'calib_batches={calib_batches}: expected 1 or more')
        eval_loader = ReplayedLoader(Runner.build_dataloader(model.held_out_loader(held_out)))
        evaluator = Evaluator(copy.deepcopy(metric or defaults['metric']))
        if getattr(eval_loader.dataset, 'metainfo', None) is not None:
            evaluator.dataset_meta = eval_loader.dataset.metainfo
        return cls(calibration_loader(train_dataloader), eval_loader, calib_batches, evaluator,
                   score_key or defaults['score_key'])

    def metrics(self, model, path: OpPath) -> dict:
        """Every result of the metric for one path of ``model``'s supernet."""
        return recalibrated_metrics(model.path_network(path), self.calib_loader,
                                    self.eval_loader, self.evaluator, self.calib_batches)

    def score(self, metrics: dict) -> float:
        """The score among a path's results. A detector that keeps no box
        leaves COCO's evaluation without a result: it scores 0."""
        if not metrics:
            return 0.
        if self.score_key not in metrics:
            raise ConfigError(f'score_key={self.score_key!r}: the metric reports '
                              f'{sorted(metrics)}')
        return float(metrics[self.score_key])

    def __call__(self, model, path: OpPath) -> float:
        return self.score(self.metrics(model, path))
