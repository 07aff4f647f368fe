"""Top-k classification accuracy as an mmengine metric.

mmpretrain has one, but it is not among this project's packages; this one
reads what :class:`~cream_det.models.CreamClassifier` predicts.
"""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class TopKAccuracy(BaseMetric):
    """Percentage of images whose label is among the k best scores, for each
    k in ``topk`` (reported as ``top1``, ``top5``...)."""

    default_prefix = 'accuracy'

    def __init__(self, topk: Sequence[int] = (1, 5), **kwargs):
        super().__init__(**kwargs)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if sample['gt_label'] is None:
                raise ValueError('TopKAccuracy needs labelled images (gt_label is None)')
            scores = sample['pred_score']
            ranked = scores.topk(min(max(self.topk), scores.numel())).indices.cpu()
            self.results.append((ranked, sample['gt_label']))

    def compute_metrics(self, results: list) -> dict:
        ranked = torch.stack([r for r, _ in results])
        labels = torch.tensor([y for _, y in results])
        hits = ranked == labels[:, None]
        # In Python floats: the percentage of n images, exact to the double.
        return {f'top{k}': 100. * int(hits[:, :k].any(1).sum()) / len(hits) for k in self.topk}
