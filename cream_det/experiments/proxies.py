"""Estimates that cost nothing: FLOPs, parameters, a latency table's
prediction, and one zero-cost proxy, SNIP at initialisation (Lee et al.,
ICLR 2019; as a NAS proxy, Abdelfattah et al., ICLR 2021): the sum over the
weights of |w * dL/dw| on one training batch, the network untrained. Every
ranking audit reports them against the same truth: a supernet that ranks
archs worse than FLOPs tells its users less than a free estimate."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.registry import MODELS, DefaultScope

from ..latency import LatencyTable
from ..selection.scoring import calibration_loader, seeded


def snip(net, batch) -> float:
    """SNIP of ``net`` on one batch, in its loss mode (a classifier's or a
    detector's loss alike), BatchNorm on the batch's statistics."""
    net.train()
    data = net.data_preprocessor(batch, True)
    loss, _ = net.parse_losses(net(**data, mode='loss'))
    weights = [m.weight for m in net.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


def free_estimates(cfg, model, paths: list, table: Optional[LatencyTable] = None,
                   seed: int = 0) -> dict:
    """``{estimate: {arch: value}}`` for FLOPs, parameters, SNIP (every path
    of one untrained supernet built from ``cfg`` at ``seed``, one seeded
    training batch) and the latency prediction of ``table``, by default the
    latency table of the search's constraint, if it has one."""
    arch = lambda path: str(model.supernet.arch_of(path))  # noqa: E731
    if table is None and model.constraint is not None:
        table = model.constraint.latency_table
    estimates = dict(flops={arch(p): model.cost.flops(p) for p in paths},
                     params={arch(p): model.cost.params(p) for p in paths})
    if table is not None:
        estimates['latency'] = {arch(p): table.latency_ms(p) for p in paths}
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')), seeded(seed):
        untrained = MODELS.build(cfg.model)
        batch = next(iter(calibration_loader(cfg.train_dataloader)))
        estimates['snip'] = {arch(p): snip(untrained.path_network(p), batch) for p in paths}
    return estimates
