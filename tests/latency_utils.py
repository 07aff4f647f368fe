"""The fake-clock latency tables of the tests: a clock that each module's
forward advances by its own parameter count stands in for the real one, so
that every entry of a table has a value known in advance (the CostTable's
parameter counts). Used by core/test_latency.py, selection/test_budgets.py
and search/test_det_search.py."""
import itertools

import torch

from cream_det import CreamSuperNet
from cream_det.latency import LatencyTable, build_latency_table
from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 1]
MS_PER_PARAM = 1e-3  # the fake clock: 1 us per parameter


class ParamClock:
    """A clock that stands still but for module forwards, each of which
    advances it by 1 us per parameter of the module's own."""

    def __init__(self):
        self.now = 0.

    def __call__(self) -> float:
        return self.now

    def hook(self, module, inputs, output):
        self.now += MS_PER_PARAM / 1e3 * sum(p.numel() for p in module.parameters(recurse=False))


def _tiny(depths=DEPTHS, space=TINY_SPACE):
    return CreamSuperNet(space=space, depths=depths, resolution=32, num_classes=10)


def _fake_table(supernet, **kw):
    clock = ParamClock()
    handle = torch.nn.modules.module.register_module_forward_hook(clock.hook)
    try:
        return build_latency_table(supernet, repeats=3, warmup=1, progress=False, timer=clock,
                                   **kw)
    finally:
        handle.remove()


def _all_paths(supernet):
    return [supernet.split_path(flat) for flat in itertools.product(range(3), repeat=sum(DEPTHS))]


def _middle(supernet, data):
    """The latencies of the middle half of all paths."""
    table = LatencyTable.from_dict(data)
    every = sorted(table.latency_ms(p) for p in _all_paths(supernet))
    return round(every[len(every) // 4], 3), round(every[3 * len(every) // 4], 3)
