"""FLOPs and parameters of Cream networks.

FLOPs are multiply-accumulates, as in the paper, counted by mmengine's
``FlopAnalyzer`` (the fvcore counter). A :class:`CostTable` counts each
candidate block of a supernet once, so that a sampled path is costed by a
few table look-ups during the search.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from .models import CreamNet, CreamSuperNet


def _analyzer(module: nn.Module, *inputs: torch.Tensor) -> FlopAnalyzer:
    analyzer = FlopAnalyzer(module, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer


def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward of ``module`` on ``inputs``."""
    return int(_analyzer(module, *inputs).total())


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def network_cost(net: CreamNet, resolution: int = None) -> dict:
    """Whole-network FLOPs and parameters of a child at its resolution."""
    resolution = resolution or net.arch.resolution
    was_training = net.training
    net.eval()
    with torch.no_grad():
        flops = count_flops(net, torch.zeros(1, 3, resolution, resolution))
    net.train(was_training)
    return dict(flops=flops, params=count_params(net), resolution=resolution)


class _OnePath(nn.Module):
    """A supernet with its path fixed: what the FLOPs counter traces."""

    def __init__(self, supernet: CreamSuperNet, path):
        super().__init__()
        self.supernet, self.path = supernet, path

    def forward(self, x):
        return self.supernet(x, self.path)


class CostTable:
    """FLOPs and parameters per (stage, layer, op) of a supernet, plus the
    fixed part (stem, first and last block, head), at the supernet's
    resolution. ``flops(path)`` and ``params(path)`` are pure look-ups.

    Every candidate of a layer sees the same input, so ``len(ops)`` traced
    forwards fill the table: the path that takes op k in every layer, with
    the counts read per module."""

    def __init__(self, supernet: CreamSuperNet, resolution: int = None):
        self.resolution = resolution or supernet.resolution
        layers = list(supernet.searchable_layers())
        num_ops = len(supernet.space.ops)
        flops = [[0] * num_ops for _ in layers]
        x = torch.zeros(1, 3, self.resolution, self.resolution)
        was_training = supernet.training
        supernet.eval()
        with torch.no_grad():
            for op in range(num_ops):
                traced = _OnePath(supernet, supernet.split_path([op] * len(layers)))
                analyzer = _analyzer(traced, x)
                per_module = analyzer.by_module()
                names = {id(m): n for n, m in traced.named_modules()}
                for i, candidates in enumerate(layers):
                    flops[i][op] = int(per_module[names[id(candidates.op_module(op))]])
                if op == 0:
                    self.fixed_flops = int(analyzer.total()) - sum(f[0] for f in flops)
        supernet.train(was_training)
        layout = supernet.split_path(range(len(layers)))  # layer numbers per stage
        self.layer_flops = [[flops[i] for i in stage] for stage in layout]
        self.layer_params = [[[layers[i].op_params(op) for op in range(num_ops)] for i in stage]
                             for stage in layout]
        searchable = sum(count_params(b) for b in layers)
        self.fixed_params = count_params(supernet) - searchable

    def flops(self, path: Sequence[Sequence[int]]) -> int:
        return self._total(self.fixed_flops, self.layer_flops, path)

    def params(self, path: Sequence[Sequence[int]]) -> int:
        return self._total(self.fixed_params, self.layer_params, path)

    def flops_range(self) -> tuple[int, int]:
        """FLOPs of the cheapest and the dearest path."""
        layers = [layer for stage in self.layer_flops for layer in stage]
        return (self.fixed_flops + sum(map(min, layers)),
                self.fixed_flops + sum(map(max, layers)))

    @staticmethod
    def _total(fixed: int, table: list, path: Sequence[Sequence[int]]) -> int:
        total = fixed
        for stage_table, ops in zip(table, path):
            for layer_table, op in zip(stage_table, ops):
                total += layer_table[op]
        return total


def arch_cost(arch, resolution: int = None) -> dict:
    """Cost of a published name, an arch file or an Arch, as a classifier
    with 1000 classes at its own resolution (or ``resolution``)."""
    net = CreamNet(arch)
    return dict(arch=net.arch, **network_cost(net, resolution))


def cost_table_text(rows: list[dict], names: list[str]) -> str:
    """A plain-text table of :func:`arch_cost` rows."""
    lines = [f'{"model":<28} {"res":>4} {"params (M)":>11} {"FLOPs (M, MACs)":>16}']
    for name, row in zip(names, rows):
        lines.append(f'{name:<28} {row["resolution"]:>4} {row["params"] / 1e6:>11.3f} '
                     f'{row["flops"] / 1e6:>16.1f}')
    return '\n'.join(lines)


class _TensorMode(nn.Module):
    """A detector's plain forward (backbone, neck, head outputs), the part
    FLOPs are counted on, as mmdet's tools/analysis_tools/get_flops.py does."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor):
        return self.detector._forward(images)


def detector_cost(detector: nn.Module, height: int, width: int) -> dict:
    """FLOPs (multiply-accumulates) and parameters of a whole detector on one
    ``height`` x ``width`` image: backbone, neck and head, not the
    post-processing."""
    was_training = detector.training
    detector.eval()
    with torch.no_grad():
        flops = count_flops(_TensorMode(detector), torch.zeros(1, 3, height, width))
    detector.train(was_training)
    return dict(flops=flops, params=count_params(detector))


def archs_cost_text(archs: list, names: list[str], resolution: int = None) -> str:
    """The cost table of archs (names, files, dicts) and their ops."""
    rows = [arch_cost(a, resolution) for a in archs]
    return '\n'.join([cost_table_text(rows, names)]
                     + [f'{name}: {row["arch"]}' for name, row in zip(names, rows)])


def benchmark_cost_table(supernet: CreamSuperNet, num_paths: int = 5,
                         log: Callable[[str], None] = print) -> dict:
    """``tools/analysis_tools/benchmark_cost_table.py``: how long costing a
    sampled path takes with the :class:`CostTable` (the search costs every
    path it draws), and how far the table's sum is from a whole-network
    count of the same child, for ``num_paths`` children. ``log`` gets the
    report line by line; the figures are returned."""
    start = time.perf_counter()
    table = CostTable(supernet)
    build_s = time.perf_counter() - start
    log(f'supernet depths {supernet.depths} @{supernet.resolution}: table built in '
        f'{build_s:.1f} s')
    generator = torch.Generator().manual_seed(0)
    paths = [supernet.sample_path(generator) for _ in range(1000)]
    repeats = 20
    start = time.perf_counter()
    for _ in range(repeats):
        for path in paths:
            table.flops(path)
    lookup_s = (time.perf_counter() - start) / (repeats * len(paths))
    log(f'lookup: {lookup_s * 1e6:.1f} us per path (FLOPs), mean of {repeats * len(paths)}')
    rows = []
    for path in paths[:num_paths]:
        whole = network_cost(supernet.export_child(path))['flops']
        rows.append(dict(table=table.flops(path), whole=whole,
                         error=abs(table.flops(path) - whole) / whole))
        log(f'  table {rows[-1]["table"] / 1e6:8.2f} M vs whole network {whole / 1e6:8.2f} M '
            f'({rows[-1]["error"]:.3%})')
    worst = max([row['error'] for row in rows], default=0.)
    log(f'largest relative difference: {worst:.3%}')
    return dict(build_s=build_s, lookup_s=lookup_s, paths=rows, worst=worst)
