"""The final choice of a detection-aware search: every board path scored by
held-out bbox mAP (mmdet's ``CocoMetric``) in the search's detector, with
its BatchNorm statistics re-estimated on a few training batches first, as
:mod:`.evaluation` scores classification paths; then ``arch.json`` and
``board.json`` as the classification search writes them."""
from __future__ import annotations

import copy
import inspect
from itertools import islice
from typing import Optional

import torch
from mmengine.evaluator import Evaluator
from torch.nn.modules.batchnorm import _BatchNorm

from ..arch import Arch
from ..errors import ConfigError
from ..latency import LatencyTable
from .budgets import predicted_latency
from .scoring import seeded

BBOX_METRIC = dict(type='CocoMetric', metric='bbox')


def packing_ground_truth(loader_cfg: dict) -> dict:
    """A copy of a held-out loader config whose last ``PackDetInputs`` also
    packs ``instances``: CocoMetric without an annotation file takes the
    ground truth from the samples, and mmdet's test pipelines leave it out
    (the metric would stop at the end of the search)."""
    from mmdet.datasets.transforms import PackDetInputs
    loader_cfg = copy.deepcopy(loader_cfg)
    pipeline = (loader_cfg.get('dataset') or {}).get('pipeline') or []
    packs = [t for t in pipeline if t.get('type') in ('PackDetInputs', 'mmdet.PackDetInputs')]
    if not packs:
        raise ConfigError('the held-out dataloader: expected dataset.pipeline with a '
                          'PackDetInputs transform (for the ground truth CocoMetric reads)')
    default = inspect.signature(PackDetInputs.__init__).parameters['meta_keys'].default
    keys = tuple(packs[-1].get('meta_keys', default))
    if 'instances' not in keys:
        packs[-1]['meta_keys'] = keys + ('instances',)
    return loader_cfg


def recalibrated_map(detector, path, calib_loader, eval_loader, preprocess,
                     calib_batches: int, metric: Optional[dict] = None) -> dict:
    """COCO bbox metrics (``bbox_mAP``, ``bbox_mAP_50`` ...) of ``detector``
    running ``path``, after re-estimating every BatchNorm statistic on
    ``calib_batches`` training batches (the supernet's statistics are
    shared by all paths through a block, so they fit no single path).
    ``detector`` is changed: pass a copy. The metric is computed here, on
    this process alone, so that one rank can score while others wait."""
    detector.backbone.set_path(path)
    norms = [m for m in detector.modules() if isinstance(m, _BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the calibration batches
    detector.train()
    for m in norms:  # norm_eval and frozen stages included: all were reset
        m.train()
    evaluator = Evaluator(copy.deepcopy(metric or BBOX_METRIC))
    evaluator.dataset_meta = eval_loader.dataset.metainfo
    seen = 0
    with torch.no_grad(), seeded(0):
        for batch in islice(calib_loader, calib_batches):
            detector(preprocess(batch, False)['inputs'], mode='tensor')
            seen += 1
        if seen == 0:
            raise RuntimeError('BatchNorm recalibration saw no batch: the loader is empty')
        detector.eval()
        for batch in eval_loader:
            data = preprocess(batch, False)
            evaluator.process(detector(**data, mode='predict'), batch)
    results = {}
    for m in evaluator.metrics:
        results.update(m.compute_metrics(m.results))
        m.results.clear()
    return results


def choose_det_arch(model, rule: str = 'held_out', calib_loader=None, eval_loader=None,
                    calib_batches: int = 5, metric: Optional[dict] = None, logger=None,
                    table: Optional[LatencyTable] = None) -> tuple[Arch, list[dict]]:
    """The chosen arch of a :class:`~.det_search.CreamDetSearch` and the
    board's entries, each with its detection loss (the board's score) and,
    with loaders, held-out ``bbox_mAP`` and ``bbox_mAP_50``.

    'official' takes the top of the board (the lowest loss); 'held_out' the
    best held-out mAP. Only entries the constraint admits are considered.
    Entries and arch carry their predicted latency on ``table``'s device
    (by default the constraint's table, if it has one)."""
    board = model.board
    entries = board.entries()
    if not entries:
        raise RuntimeError('the search ended with an empty board: train past the '
                           f'warm-up ({model.warmup_iters} iterations) to fill it')
    if table is None and model.constraint is not None:
        table = model.constraint.latency_table
    for i, entry in enumerate(entries):
        entry['det_loss'] = -entry.pop('prec1')
        entry.update(predicted_latency(table, board.path(i)))
    admitted = [i for i in range(len(entries)) if model.admits(board.path(i))]
    if not admitted:
        raise RuntimeError(f'no board entry lies within the constraint {model.constraint}')
    official = chosen = admitted[0]
    best = None
    if eval_loader is not None:
        detector = copy.deepcopy(model.detector)
        for i in admitted:
            scores = recalibrated_map(detector, board.path(i), calib_loader, eval_loader,
                                      model.data_preprocessor, calib_batches, metric)
            # No detection at all leaves COCO's evaluation without a result.
            entries[i].update(bbox_mAP=float(scores.get('bbox_mAP', 0.)),
                              bbox_mAP_50=float(scores.get('bbox_mAP_50', 0.)))
            if best is None or entries[i]['bbox_mAP'] > entries[best]['bbox_mAP']:
                best = i
        if rule == 'held_out':
            chosen = best
        if logger is not None:
            logger.info(f'held-out choice: board entry {best}, official choice: entry '
                        f'{official}')
    from .choice import chosen_arch  # (selection imports this module)
    arch = chosen_arch(
        model, entries, chosen, official, best, rule, table,
        board_det_loss=entries[chosen]['det_loss'],
        **{k: entries[chosen][k] for k in ('bbox_mAP', 'bbox_mAP_50') if k in entries[chosen]})
    return arch, entries


def det_board_summary(entries: list[dict]) -> str:
    """The board's size and spread of FLOPs, loss and held-out mAP."""
    flops = [e['flops'] / 1e6 for e in entries]
    losses = [e['det_loss'] for e in entries]
    text = (f'{len(entries)} paths, {min(flops):.2f}-{max(flops):.2f} MFLOPs, detection '
            f'loss {min(losses):.3f}-{max(losses):.3f}')
    maps = [e['bbox_mAP'] for e in entries if 'bbox_mAP' in e]
    if maps:
        text += f', held-out bbox mAP {min(maps):.3f}-{max(maps):.3f}'
    return text
