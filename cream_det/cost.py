"""FLOPs and parameters of Cream networks.

FLOPs are multiply-accumulates, as in the paper, counted by mmengine's
``FlopAnalyzer`` (the fvcore counter). A :class:`CostTable` counts each
candidate block of a supernet once, so that a sampled path is costed by a
few table look-ups during the search.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from .models import CreamNet, CreamSuperNet


def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward of ``module`` on ``inputs``."""
    analyzer = FlopAnalyzer(module, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())


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


class _Head(nn.Module):
    def __init__(self, net: CreamSuperNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_head(self.net.blocks[-1][0][0](x))


class _Stem(nn.Module):
    def __init__(self, net: CreamSuperNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.blocks[0][0][0](self.net.forward_stem(x))


class CostTable:
    """FLOPs and parameters per (stage, layer, op) of a supernet, plus the
    fixed part (stem, first and last block, head), at the supernet's
    resolution. ``flops(path)`` and ``params(path)`` are pure look-ups."""

    def __init__(self, supernet: CreamSuperNet, resolution: int = None):
        self.resolution = resolution or supernet.resolution
        was_training = supernet.training
        supernet.eval()
        with torch.no_grad():
            x = torch.zeros(1, 3, self.resolution, self.resolution)
            stem, head = _Stem(supernet), _Head(supernet)
            fixed_flops = count_flops(stem, x)
            x = stem(x)
            self.layer_flops, self.layer_params = [], []
            for stage in supernet.blocks[1:-1]:
                stage_flops, stage_params = [], []
                for candidates in stage:
                    stage_flops.append([count_flops(block, x) for block in candidates])
                    stage_params.append([count_params(block) for block in candidates])
                    x = candidates[0](x)
                self.layer_flops.append(stage_flops)
                self.layer_params.append(stage_params)
            fixed_flops += count_flops(head, x)
        supernet.train(was_training)
        self.fixed_flops = fixed_flops
        searchable = sum(count_params(b) for b in supernet.blocks[1:-1])
        self.fixed_params = count_params(supernet) - searchable

    def flops(self, path: Sequence[Sequence[int]]) -> int:
        return self._total(self.fixed_flops, self.layer_flops, path)

    def params(self, path: Sequence[Sequence[int]]) -> int:
        return self._total(self.fixed_params, self.layer_params, path)

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
