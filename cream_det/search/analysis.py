"""Does the search teach? Held-out accuracy of the final board's paths
against paths sampled uniformly, all scored as the arch choice scores them
(:func:`~.evaluation.path_accuracy`)."""
from __future__ import annotations

import statistics

import torch

from .evaluation import path_accuracy


def board_versus_uniform(model, calib_loader, eval_loader, num_paths: int = 5,
                         calib_batches: int = 10, seed: int = 12345) -> dict:
    """Held-out top-1 (%) of up to ``num_paths`` board paths (best first) and
    of ``num_paths`` uniformly sampled ones (from ``seed``), with summaries."""
    generator = torch.Generator().manual_seed(seed)
    paths = dict(board=[model.board.path(i) for i in range(min(num_paths, len(model.board)))],
                 uniform=[model.supernet.sample_path(generator) for _ in range(num_paths)])
    result = {}
    for kind, kind_paths in paths.items():
        accs = [path_accuracy(model, p, calib_loader, eval_loader, calib_batches)
                for p in kind_paths]
        result[kind] = dict(top1=accs, mean=statistics.mean(accs), min=min(accs),
                            max=max(accs))
    result['gap'] = result['board']['mean'] - result['uniform']['mean']
    return result
