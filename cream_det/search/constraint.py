"""A budget that binds (beyond the official code, where the FLOPs range only
sizes the supernet and sampled paths, board entries and the choice may fall
outside it): paths outside the range are redrawn, so that every trained
path, every board entry and the chosen arch lie within it.

The budget is a FLOPs range, a latency range on a measured device
(:class:`~cream_det.latency.LatencyTable`), or both, which a path must then
meet together."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..cost import CostTable
from ..errors import ConfigError
from ..latency import LatencyTable
from ..models import CreamSuperNet

# Redraws allowed per path; a range the sampling hits less than once in
# MIN_HIT_RATE_DRAWS draws is refused when the search is built, so that a
# run never stops for want of a path (the chance of 10,000 misses at that
# rate is about 2e-9).
MAX_DRAWS = 10_000
MIN_HIT_RATE_DRAWS = 500
KEYS = ('flops', 'latency_ms', 'table')


class Constraint:
    """``flops=(lo, hi)`` in MFLOPs, checked with the supernet's cost table,
    and/or ``latency_ms=(lo, hi)`` in milliseconds, predicted by
    ``latency_table`` (see :meth:`build` for the config form)."""

    def __init__(self, cost: CostTable, flops: Optional[Sequence[float]] = None,
                 latency_ms: Optional[Sequence[float]] = None,
                 latency_table: Optional[LatencyTable] = None):
        if (latency_ms is None) != (latency_table is None):
            raise ConfigError('a latency_ms constraint needs a latency table, and only then')
        self.cost, self.latency_table = cost, latency_table
        # ((low, high), unit, a path's value): each range a path must meet.
        self._measures = []
        self.flops_range = self._add('flops', flops, 'MFLOPs', lambda p: cost.flops(p) / 1e6,
                                     [f / 1e6 for f in cost.flops_range()])
        self.latency_range = None if latency_table is None else self._add(
            'latency_ms', latency_ms, f'ms on {latency_table.device}',
            latency_table.latency_ms, latency_table.latency_range_ms())

    def _add(self, name: str, given, unit: str, value, span) -> Optional[tuple]:
        if given is None:
            return None
        if not isinstance(given, (list, tuple)) or len(given) != 2 or not given[0] <= given[1]:
            raise ConfigError(f'constraint {name}={given!r}: expected (low, high) in '
                              f'{unit.split()[0]}')
        given = (float(given[0]), float(given[1]))
        if given[1] < span[0] or given[0] > span[1]:
            raise ConfigError(f'constraint {name}={given} {unit.split()[0]}: no path of this '
                              f'supernet lies within it; its paths span {span[0]:.2f}-'
                              f'{span[1]:.2f} {unit}')
        self._measures.append((given, unit, value))
        return given

    @classmethod
    def build(cls, cfg: Optional[dict], cost: CostTable,
              supernet: Optional[CreamSuperNet] = None) -> Optional['Constraint']:
        """``cfg``: ``dict(flops=(lo, hi))`` (MFLOPs), ``dict(latency_ms=(lo,
        hi), table='table.json')`` (a file of
        tools/analysis_tools/latency_table.py), or both keys of both. The
        table must be of ``supernet``'s space; without ``supernet`` only its
        depths and number of ops are checked, against ``cost``."""
        if cfg is None:
            return None
        unknown = set(cfg) - set(KEYS)
        if unknown or not set(cfg) & {'flops', 'latency_ms'}:
            raise ConfigError(f'constraint={cfg}: expected keys among {KEYS}')
        if ('latency_ms' in cfg) != ('table' in cfg):
            raise ConfigError(f'constraint={cfg}: latency_ms=(low, high) comes with '
                              'table=FILE, the latency table of the device '
                              '(tools/analysis_tools/latency_table.py), and table with it')
        table = None
        if 'table' in cfg:
            table = LatencyTable.load(cfg['table'])
            if supernet is not None:
                table.check_matches(supernet)
            else:
                table.check_layout([len(stage) for stage in cost.layer_flops],
                                   len(cost.layer_flops[0][0]))
        return cls(cost, cfg.get('flops'), cfg.get('latency_ms'), table)

    def admits(self, path) -> bool:
        return all(low <= value(path) <= high for (low, high), _, value in self._measures)

    def latency_ms(self, path) -> Optional[float]:
        """A path's predicted latency on the table's device; None without a table."""
        return None if self.latency_table is None else self.latency_table.latency_ms(path)

    def __str__(self) -> str:
        return ', '.join(f'{low:g}-{high:g} {unit}' for (low, high), unit, _ in self._measures)

    def draw(self, sample, generator: torch.Generator, what: str = 'a path'):
        """A path from ``sample(generator)`` that the budget admits."""
        for _ in range(MAX_DRAWS):
            path = sample(generator)
            if self.admits(path):
                return path
        raise RuntimeError(f'no path within {self} in {MAX_DRAWS} draws for {what}')

    def check_reachable(self, sample, seed: int = 0) -> None:
        """Refuse a range the sampling would hit too rarely, naming the
        spread of what it draws."""
        generator = torch.Generator().manual_seed(seed)
        drawn = [sample(generator) for _ in range(2000)]
        hits = sum(map(self.admits, drawn))
        if hits * MIN_HIT_RATE_DRAWS < len(drawn):
            spans = []
            for _, unit, value in self._measures:
                values = sorted(map(value, drawn))
                spans.append(f'{values[20]:.2f}-{values[-21]:.2f} {unit}')
            raise ConfigError(
                f'constraint {self}: the sampling draws a path within it {hits} times in '
                f'{len(drawn)}; its paths mostly span {" and ".join(spans)} (1st-99th '
                'percentile): widen the range or move it into that span')
