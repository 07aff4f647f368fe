"""One supernet, many budgets: the best path within each of a user's budgets
(FLOPs, or latency on a measured device), picked from a trained supernet
without training again, as once-for-all specialises its network. The
official search returns one arch per supernet training.

For each budget the paths in the running are the board entries within it
and paths drawn uniformly within it from a seeded generator; each is scored
by the search's held-out metric with inherited weights, BatchNorm
recalibrated (a :class:`~.scoring.PathScorer`, as the arch hook scores the
board), and the best becomes ``arch_<budget>.json``. No evolutionary refinement: it
would need a fitness cheaper than held-out scoring to pay, and the drawn
paths already cover each budget.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Optional, Sequence

import torch

from ..arch import flatten_path
from ..errors import ConfigError
from ..latency import EAGER, LatencyTable
from ..search.constraint import Constraint
from .choice import held_out_cfg, predicted_latency, searched_model
from .scoring import PathScorer

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


def paths_within(model, constraint: Constraint, num_paths: int, seed: int) -> list[tuple]:
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


def select_for_budgets(model, measure: str, budgets: Sequence[float], scorer: PathScorer,
                       num_paths: int = 20, seed: int = 0,
                       table: Optional[LatencyTable] = None, logger=print) -> dict:
    """For each budget, the best of the scored paths within it.

    Every path of every budget is scored once, and a budget chooses among
    all scored paths within it (a path drawn for a larger budget may lie
    within a smaller one too), so a larger budget never gets a worse
    estimate. Returns ``dict(measure, score_key, budgets=[{budget, arch,
    path, flops, params, held_out, source, paths_within, from_board,
    latency_ms?, latency_device?}], scored=[every scored path, with its
    source])``."""
    constraints = [budget_constraint(model, measure, budget, table) for budget in budgets]
    scored = {}
    for constraint in constraints:
        for path, source in paths_within(model, constraint, num_paths, seed):
            key = tuple(flatten_path(path))
            if key not in scored:
                scored[key] = dict(describe(model, path, table), source=source)
            elif source == 'board':
                scored[key]['source'] = 'board'
    for info in scored.values():
        info['held_out'] = scorer(model, info['path'])
    chosen = []
    for budget, constraint in zip(budgets, constraints):
        within = [info for info in scored.values() if constraint.admits(info['path'])]
        # the best estimate; of equal ones, the cheapest
        best = dict(max(within, key=lambda info: (info['held_out'], -info[measure])),
                    budget=budget, paths_within=len(within),
                    from_board=sum(info['source'] == 'board' for info in within))
        chosen.append(best)
        if logger is not None:
            logger(f'budget {budget_name(measure, budget)}: {len(within)} paths within it '
                   f'({best["from_board"]} from the board), best {best["arch"]} at '
                   f'{best["held_out"]:.4g} held-out {scorer.score_key}')
    return dict(measure=measure, score_key=scorer.score_key, budgets=chosen,
                scored=list(scored.values()))


def describe(model, path, table: Optional[LatencyTable] = None) -> dict:
    """A path's arch, FLOPs and params, and its predicted latency with the
    device's name when a table is given (as board.json and arch files
    carry them)."""
    info = dict(path=path, arch=str(model.supernet.arch_of(path)), flops=model.cost.flops(path),
                params=model.cost.params(path))
    info.update(predicted_latency(table, path))
    return info


def write_budget_archs(result: dict, model, out_dir: str, **meta) -> list[str]:
    """``arch_<budget>.json`` per budget and ``budgets.json`` (every scored
    path, for the Pareto picture) in ``out_dir``; returns the arch files."""
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for best in result['budgets']:
        arch = model.supernet.arch_of(best['path'])
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
    latency, the held-out estimate."""
    unit = MEASURES[result['measure']]
    lines = [f'{"budget":>12}  {"arch":<44}{"MFLOPs":>8}{"predicted":>11}{"measured":>10}'
             f'{"estimate":>12}']
    for best in result['budgets']:
        predicted = best.get('latency_ms')
        measured = best.get('measured_latency_ms')
        lines.append(
            f'{best["budget"]:>8g} {unit:<4} {best["arch"]:<44}{best["flops"] / 1e6:>8.2f}'
            f'{"-" if predicted is None else f"{predicted:.2f} ms":>11}'
            f'{"-" if measured is None else f"{measured:.2f} ms":>10}'
            f'{best["held_out"]:>12.4g}')
    lines.append(f'estimates: held-out {result["score_key"]}'
                 + (f'; latencies on {device}' if device else ''))
    return '\n'.join(lines)


def select_budgets_from_checkpoint(cfg, checkpoint: str, out_dir: str, measure: str,
                                   budgets: Sequence[float],
                                   table: Optional[LatencyTable] = None,
                                   calib_batches: Optional[int] = None,
                                   num_paths: int = 20, seed: int = 0) -> tuple[dict, list]:
    """:func:`select_for_budgets` on a search checkpoint, its paths scored
    as the config's arch hook scores them; the chosen children timed whole
    when this machine is the table's device; the files written. Returns
    the result and the arch files."""
    if held_out_cfg(cfg) is None:
        raise ConfigError('scoring paths for a budget needs a held-out loader: the config '
                          'has neither a CreamArchHook held_out nor a held_out_dataloader')
    if num_paths < 0:
        raise ConfigError(f'--paths {num_paths}: expected 0 or more')
    model, scorer = searched_model(cfg, checkpoint, calib_batches)
    if table is not None:
        table.check_matches(model.supernet)
    result = select_for_budgets(model, measure, budgets, scorer, num_paths, seed, table)
    # A deployment runtime's table prices paths as any other; its children
    # are timed there by benchmark_latency_table.py, not here.
    if table is not None and table.runs_here() and table.runtime == EAGER:
        measured = table.time_networks(
            [model.supernet.export_child(best['path']) for best in result['budgets']])
        for best, ms in zip(result['budgets'], measured):
            best['measured_latency_ms'] = ms
    files = write_budget_archs(result, model, out_dir, checkpoint=checkpoint, seed=seed,
                               paths=num_paths)
    return result, files
