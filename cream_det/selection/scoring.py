"""How good one path of a trained supernet is: its child, with the weights
it inherits, after its BatchNorm statistics are re-estimated on a few
training batches, scored on held-out images. The arch hook, ``select_arch``
and the analysis tools all score paths this way."""
from __future__ import annotations

import copy
import random
from contextlib import contextmanager

import numpy as np
import torch
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm

from ..arch import OpPath


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


def recalibrated_accuracy(child: torch.nn.Module, calib_loader, eval_loader, preprocess,
                          calib_batches: int) -> float:
    """Top-1 (%) of a child after re-estimating its BatchNorm statistics on
    a few training batches (the supernet's statistics are shared by all paths
    through a block, so they fit no single path)."""
    for m in child.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
    child.train()
    seen = 0
    with torch.no_grad(), seeded(0):
        for batch in calib_loader:
            if seen == calib_batches:
                break
            child(preprocess(batch, False)['inputs'])
            seen += 1
        if seen == 0:
            raise RuntimeError('BatchNorm recalibration saw no batch: the loader is empty')
        child.eval()
        correct = total = 0
        for batch in eval_loader:
            data = preprocess(batch, False)
            labels = torch.as_tensor(data['data_samples'], device=data['inputs'].device)
            correct += int((child(data['inputs']).argmax(1) == labels).sum())
            total += len(labels)
    return 100. * correct / max(total, 1)


def path_accuracy(model, path: OpPath, calib_loader, eval_loader, calib_batches: int) -> float:
    """:func:`recalibrated_accuracy` of one path of a search model's supernet."""
    supernet = model.supernet
    child = supernet.export_child(path).to(next(supernet.parameters()).device)
    return recalibrated_accuracy(child, calib_loader, eval_loader, model.data_preprocessor,
                                 calib_batches)
