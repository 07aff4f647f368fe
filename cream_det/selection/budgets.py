"""One supernet, many budgets: the best path within each of a user's budgets
(FLOPs, or latency on a measured device), picked from a trained supernet
without training again, as once-for-all specialises its network. The
official search returns one arch per supernet training.

For each budget the candidates are the board entries within it and paths
drawn uniformly within it from a seeded generator; each is scored by its
held-out top-1 with inherited weights, BatchNorm recalibrated
(:func:`~.evaluation.path_accuracy`, as the arch hook scores the board), and
the best becomes ``arch_<budget>.json``. No evolutionary refinement: it
would need a fitness cheaper than held-out scoring to pay, and the drawn
paths already cover each budget.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Optional, Sequence

import torch

from ..arch import Arch, flatten_path
from ..errors import ConfigError
from ..latency import LatencyTable
from ..search.constraint import Constraint
from .scoring import path_accuracy

MEASURES = {'flops': 'MFLOPs', 'latency_ms': 'ms'}


def budget_name(measure: str, budget: float) -> str:
    """How a budget names its arch file: ``arch_<budget_name>.json``."""
    return f'{budget:g}{MEASURES[measure]}'


def budget_constraint(model, measure: str, budget: float,
                      table: Optional[LatencyTable]) -> Constraint:
    """Paths of ``model``'s supernet at or below ``budget``."""
    if measure not in MEASURES:
        raise ConfigError(f'budget measure {measure!r}: expected one of {tuple(MEASURES)}')
    if measure == 'latency_ms' and table is None:
        raise ConfigError('latency budgets need the latency table of the device (--table)')
    constraint = Constraint(model.cost, **{measure: (0., budget)},
                            latency_table=table if measure == 'latency_ms' else None)
    constraint.check_reachable(model.supernet.sample_path)
    return constraint


def candidates(model, constraint: Constraint, num_paths: int, seed: int) -> list[tuple]:
    """(path, 'board' or 'drawn') for the board entries within ``constraint``
    and ``num_paths`` paths drawn uniformly within it, without repeats."""
    found = {}
    for i in range(len(model.board)):
        path = model.board.path(i)
        if constraint.admits(path):
            found.setdefault(tuple(flatten_path(path)), (path, 'board'))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(num_paths):
        path = constraint.draw(model.supernet.sample_path, generator, f'budget {constraint}')
        found.setdefault(tuple(flatten_path(path)), (path, 'drawn'))
    return list(found.values())


def select_for_budgets(model, measure: str, budgets: Sequence[float], calib_loader,
                       eval_loader, calib_batches: int = 20, num_paths: int = 20,
                       seed: int = 0, table: Optional[LatencyTable] = None,
                       logger=print) -> dict:
    """For each budget, the best of the scored paths within it.

    Every candidate of every budget is scored once, and a budget chooses
    among all scored paths within it (a path drawn for a larger budget may
    lie within a smaller one too), so a larger budget never gets a worse
    estimate. Returns ``dict(measure, budgets=[{budget, arch, path, flops,
    params, held_out_top1, source, candidates, from_board, latency_ms?,
    latency_device?}], candidates=[every scored path, with its source])``."""
    constraints = [budget_constraint(model, measure, budget, table) for budget in budgets]
    scored = {}
    for constraint in constraints:
        for path, source in candidates(model, constraint, num_paths, seed):
            key = tuple(flatten_path(path))
            if key not in scored:
                scored[key] = dict(describe(model, path, table), source=source)
            elif source == 'board':
                scored[key]['source'] = 'board'
    for info in scored.values():
        info['held_out_top1'] = path_accuracy(model, info['path'], calib_loader, eval_loader,
                                              calib_batches)
    chosen = []
    for budget, constraint in zip(budgets, constraints):
        within = [info for info in scored.values() if constraint.admits(info['path'])]
        # the best estimate; of equal ones, the cheapest
        best = dict(max(within, key=lambda info: (info['held_out_top1'], -info[measure])),
                    budget=budget, candidates=len(within),
                    from_board=sum(info['source'] == 'board' for info in within))
        chosen.append(best)
        if logger is not None:
            logger(f'budget {budget_name(measure, budget)}: {len(within)} candidates '
                   f'({best["from_board"]} from the board), best {best["arch"]} at '
                   f'{best["held_out_top1"]:.2f} % held-out top-1')
    return dict(measure=measure, budgets=chosen, candidates=list(scored.values()))


def describe(model, path, table: Optional[LatencyTable] = None) -> dict:
    """A path's arch, FLOPs and params, and its predicted latency with the
    device's name when a table is given (as board.json and arch files
    carry them)."""
    info = dict(path=path, arch=str(_arch(model, path)), flops=model.cost.flops(path),
                params=model.cost.params(path))
    info.update(predicted_latency(table, path))
    return info


def predicted_latency(table: Optional[LatencyTable], path) -> dict:
    """``latency_ms`` and ``latency_device`` of a path, {} without a table."""
    if table is None:
        return {}
    return dict(latency_ms=table.latency_ms(path), latency_device=table.device)


def write_budget_archs(result: dict, model, out_dir: str, **meta) -> list[str]:
    """``arch_<budget>.json`` per budget and ``budgets.json`` (every scored
    candidate, for the Pareto picture) in ``out_dir``; returns the arch files."""
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for best in result['budgets']:
        arch = _arch(model, best["path"])
        arch.meta.update({k: v for k, v in best.items() if k not in ('path', 'arch')},
                         measure=result['measure'], **meta)
        files.append(osp.join(out_dir, f'arch_{budget_name(result["measure"], best["budget"])}'
                              '.json'))
        arch.dump(files[-1])
    with open(osp.join(out_dir, 'budgets.json'), 'w') as f:
        json.dump(dict(result, **meta), f, indent=1)
    return files


def budget_table_text(result: dict, device: Optional[str] = None) -> str:
    """The printed table: budget, arch, FLOPs, predicted and measured
    latency, estimated top-1."""
    unit = MEASURES[result['measure']]
    lines = [f'{"budget":>12}  {"arch":<44}{"MFLOPs":>8}{"predicted":>11}{"measured":>10}'
             f'{"est. top-1":>12}']
    for best in result['budgets']:
        predicted = best.get('latency_ms')
        measured = best.get('measured_latency_ms')
        lines.append(
            f'{best["budget"]:>8g} {unit:<4} {best["arch"]:<44}{best["flops"] / 1e6:>8.2f}'
            f'{"-" if predicted is None else f"{predicted:.2f} ms":>11}'
            f'{"-" if measured is None else f"{measured:.2f} ms":>10}'
            f'{best["held_out_top1"]:>10.2f} %')
    if device:
        lines.append(f'latencies on {device}')
    return '\n'.join(lines)


def _arch(model, path) -> Arch:
    return Arch.from_path(model.supernet.space, path, model.supernet.resolution)
