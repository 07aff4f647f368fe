"""BatchNorm for the search's auxiliary forwards: the teacher's, the board's
and the look-ahead's run with batch statistics, as in training, but must not
move the running statistics, and a batch of several board entries must be
normalised entry by entry, as the official code's one forward per entry."""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F


def bn_act(bn: nn.Module, x: torch.Tensor, weight, bias, running_mean,
           running_var) -> torch.Tensor:
    """timm's ``BatchNormAct2d.forward`` on the given tensors (an entangled
    op's slices of ``bn``'s), with torch's momentum rules; in ghost mode
    (:func:`ghost_batches`) each group of images gets its own statistics."""
    groups = getattr(bn, 'ghost_groups', None)
    if groups is not None:
        x = _ghost_batch_norm(x, groups, weight, bias, bn.eps)
    else:
        momentum = 0. if bn.momentum is None else bn.momentum
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:  # a cumulative average
                momentum = 1. / float(bn.num_batches_tracked)
        x = F.batch_norm(x, running_mean, running_var, weight, bias, bn.training, momentum,
                         bn.eps)
    return bn.act(bn.drop(x))


def _ghost_batch_norm(x, groups: int, weight, bias, eps: float) -> torch.Tensor:
    """Batch statistics per group of consecutive images, in one call of
    torch's kernel: the groups are laid side by side as channels."""
    n, c, h, w = x.shape
    side_by_side = x.view(groups, n // groups, c, h, w).transpose(0, 1).reshape(
        n // groups, groups * c, h, w)
    y = F.batch_norm(side_by_side, None, None, weight.repeat(groups), bias.repeat(groups),
                     True, 0., eps)
    return y.view(n // groups, groups, c, h, w).transpose(0, 1).reshape(n, c, h, w)


def _module_bn_act(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return bn_act(bn, x, bn.weight, bn.bias, bn.running_mean, bn.running_var)


@contextmanager
def ghost_batches(bns: list, groups: int):
    """Forwards in which each of ``groups`` equal runs of consecutive images
    is normalised with its own batch statistics (ghost batches), and no
    running statistic moves: ten board entries in one forward score as ten
    forwards would."""
    for m in bns:
        m.ghost_groups = groups
        m.forward = _module_bn_act.__get__(m)
    try:
        yield
    finally:
        for m in bns:
            del m.ghost_groups, m.forward


@contextmanager
def bn_stats_frozen(bns: list):
    """Forward with batch statistics, as in training, without moving the
    running statistics of ``bns`` (momentum 0, counter restored).

    DEVIATION: the official board, teacher and look-ahead forwards run in
    train mode and update the running statistics with their batches."""
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(bns, saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)
