"""A budget that binds (beyond the official code, where the FLOPs range only
sizes the supernet and sampled paths, board entries and the choice may fall
outside it): paths outside the range are redrawn, so that every trained
path, every board entry and the chosen arch lie within it."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..cost import CostTable
from ..errors import ConfigError

# Redraws allowed per path; a range the sampling hits less than once in
# MIN_HIT_RATE_DRAWS draws is refused when the search is built, so that a
# run never stops for want of a path (the chance of 10,000 misses at that
# rate is about 2e-9).
MAX_DRAWS = 10_000
MIN_HIT_RATE_DRAWS = 500
KEYS = ('flops',)


class Constraint:
    """``flops=(lo, hi)`` in MFLOPs, checked with the supernet's cost table."""

    def __init__(self, cost: CostTable, flops: Sequence[float]):
        if len(flops) != 2 or not flops[0] <= flops[1]:
            raise ConfigError(f'constraint flops={tuple(flops)}: expected (low, high) in MFLOPs')
        self.cost, self.flops_range = cost, (float(flops[0]), float(flops[1]))
        low, high = (f / 1e6 for f in cost.flops_range())
        if self.flops_range[1] < low or self.flops_range[0] > high:
            raise ConfigError(f'constraint flops={tuple(flops)} MFLOPs: no path of this '
                              f'supernet lies within it; its paths span {low:.2f}-{high:.2f} '
                              'MFLOPs')

    @classmethod
    def build(cls, cfg: Optional[dict], cost: CostTable) -> Optional['Constraint']:
        if cfg is None:
            return None
        unknown = set(cfg) - set(KEYS)
        if unknown or not cfg:
            raise ConfigError(f'constraint={cfg}: expected keys among {KEYS}')
        return cls(cost, **cfg)

    def admits(self, path) -> bool:
        low, high = self.flops_range
        return low <= self.cost.flops(path) / 1e6 <= high

    def __str__(self) -> str:
        return f'{self.flops_range[0]:g}-{self.flops_range[1]:g} MFLOPs'

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
        drawn = sorted(self.cost.flops(sample(generator)) / 1e6 for _ in range(2000))
        hits = sum(self.flops_range[0] <= f <= self.flops_range[1] for f in drawn)
        if hits * MIN_HIT_RATE_DRAWS < len(drawn):
            raise ConfigError(
                f'constraint {self}: the sampling draws a path within it {hits} times in '
                f'{len(drawn)}; its paths mostly span {drawn[20]:.2f}-{drawn[-21]:.2f} MFLOPs '
                f'(1st-99th percentile): widen the range or move it into that span')
