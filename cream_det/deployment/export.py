"""ONNX export of what this project trains: a classifier (logits), a
backbone (its ``out_indices`` feature maps) and a single-stage mmdet
detector (RetinaNet, FCOS; any backbone) as one end-to-end graph.

A detector's graph ends as mmdeploy's ``end2end.onnx`` does: ``dets``
(B, N, 5: x1, y1, x2, y2, score) and ``labels`` (B, N), with the box
decoding and ONNX ``NonMaxSuppression`` inside, under the config's
``test_cfg``. N is ``max_per_img``; the rows after an image's last
detection have label -1 and zeros. Boxes are in the coordinates of the
graph's input (the resized, padded image) and clipped to its size.

mmdeploy itself does not install beside this stack (docs/en/user_guides/
deployment.md says what failed), so this is the small part it would have
done. The graph computes what mmdet 3.3's ``predict`` computes, step by
step (``BaseDenseHead._predict_by_feat_single`` and ``_bbox_post_process``):
per level, the (prior, class) pairs above ``score_thr``, the best
``nms_pre`` of them; their boxes decoded; FCOS's centerness multiplied in;
boxes not wider and taller than ``min_bbox_size`` dropped; NMS per class;
the best ``max_per_img``. The pairs below the threshold are kept in the
graph with score -1 instead of being cut out, so that every shape but NMS's
output is fixed by the input size (OpenVINO and onnxruntime plan fixed
shapes better).

What the file holds besides the graph is in its metadata (:func:`read_metadata`).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
from typing import Optional, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from .runtimes import _import

# ONNX opset 17: onnxruntime 1.32 and OpenVINO 2026.4 run it, and torch's
# TorchScript exporter writes it (it stops at 20).
DEFAULT_OPSET = 17
INPUT_NAME = 'input'
DETECTOR_OUTPUTS = ('dets', 'labels')
# The dense heads whose post-processing the detector graph reproduces, and
# the box coder each decodes with.
SUPPORTED_HEADS = dict(RetinaHead='DeltaXYWHBBoxCoder', FCOSHead='DistancePointBBoxCoder')
# Where the package lies: its commit goes into the metadata.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def export_kind(model: nn.Module) -> str:
    """'detector', 'classifier' or 'backbone': what :func:`export_onnx`
    makes of ``model``. A detector is refused here if its head is not one
    the graph reproduces."""
    from mmdet.models.detectors import SingleStageDetector

    from ..models import CreamClassifier, CreamNet
    if isinstance(model, SingleStageDetector):
        check_head(model.bbox_head)
        return 'detector'
    if hasattr(model, 'bbox_head') or hasattr(model, 'roi_head'):
        raise ConfigError(f'{type(model).__name__}: the ONNX export knows single-stage '
                          f'detectors with a {" or ".join(SUPPORTED_HEADS)} (RetinaNet, FCOS)')
    if isinstance(model, CreamClassifier) or (isinstance(model, CreamNet) and model.with_head):
        return 'classifier'
    return 'backbone'


def check_head(head: nn.Module) -> None:
    name = type(head).__name__
    if name not in SUPPORTED_HEADS:
        raise ConfigError(f'the ONNX export does not know the detector head {name}: it knows '
                          f'{", ".join(SUPPORTED_HEADS)} (RetinaNet, FCOS)')
    coder = type(head.bbox_coder).__name__
    if coder != SUPPORTED_HEADS[name]:
        raise ConfigError(f'the ONNX export decodes a {name} with {SUPPORTED_HEADS[name]}; '
                          f'this one has {coder}')
    nms = head.test_cfg.get('nms', {})
    if nms.get('type', 'nms') != 'nms':
        raise ConfigError(f"test_cfg.nms.type={nms.get('type')!r}: the ONNX export has ONNX's "
                          "NonMaxSuppression, mmcv's 'nms'")
    if getattr(head.loss_cls, 'custom_cls_channels', False):
        raise ConfigError(f'{name} with {type(head.loss_cls).__name__}: the ONNX export scores '
                          'with a sigmoid or a softmax only')


class _OnnxNms(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` on boxes (B, K, 4) and per-class scores
    (B, C, K): the (batch, class, box) index of every kept box.

    The graph holds the ONNX op itself (``symbolic``); the eager version,
    torchvision's NMS per image and class, is what export traces through.
    """

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class: int, iou_threshold: float,
                score_threshold: float):
        from torchvision.ops import nms
        kept = []
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                candidates = torch.nonzero(scores[b, c] > score_threshold)[:, 0]
                order = nms(boxes[b, candidates], scores[b, c, candidates], iou_threshold)
                index = candidates[order[:max_per_class]]
                kept.append(torch.stack([torch.full_like(index, b), torch.full_like(index, c),
                                         index], 1))
        return torch.cat(kept)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou_threshold, score_threshold):
        def constant(value, dtype):
            return g.op('Constant', value_t=torch.tensor([value], dtype=dtype))
        return g.op('NonMaxSuppression', boxes, scores, constant(max_per_class, torch.long),
                    constant(iou_threshold, torch.float), constant(score_threshold, torch.float))


class DetectorGraph(nn.Module):
    """A RetinaNet or FCOS with its post-processing, for an input of a
    fixed size (H, W): ``(dets, labels)`` as the module docstring says."""

    def __init__(self, detector: nn.Module, input_hw: Sequence[int]):
        super().__init__()
        check_head(detector.bbox_head)
        self.detector, self.head = detector, detector.bbox_head
        self.cfg = self.head.test_cfg
        self.height, self.width = map(int, input_hw)
        self.centerness = type(self.head).__name__ == 'FCOSHead'
        with torch.no_grad():
            cls_scores = self.head(detector.extract_feat(torch.zeros(1, 3, *input_hw)))[0]
        priors = self.head.prior_generator.grid_priors([c.shape[-2:] for c in cls_scores],
                                                       dtype=torch.float32, device='cpu')
        for level, level_priors in enumerate(priors):
            self.register_buffer(f'priors{level}', level_priors, persistent=False)
        self.num_levels = len(priors)
        # How many (prior, class) pairs each level keeps: all, or the best nms_pre.
        nms_pre = self.cfg.get('nms_pre', -1)
        pairs = [len(p) * self.head.num_classes for p in priors]
        self.kept_pairs = pairs if nms_pre <= 0 else [min(nms_pre, n) for n in pairs]

    def forward(self, x: torch.Tensor):
        outs = self.head(self.detector.extract_feat(x))
        num_classes = self.head.num_classes
        score_thr = self.cfg.get('score_thr', 0)
        batch, size = x.shape[0], self.head.bbox_coder.encode_size
        scores, labels, priors, deltas, factors = [], [], [], [], []
        for level in range(self.num_levels):
            cls = outs[0][level].permute(0, 2, 3, 1).reshape(batch, -1, self.head.cls_out_channels)
            cls = cls.sigmoid() if self.head.use_sigmoid_cls else cls.softmax(-1)[..., :-1]
            pairs = cls.reshape(batch, -1)  # (prior, class) pairs, as mmdet's filter_scores_and_topk
            pairs = torch.where(pairs > score_thr, pairs, torch.full_like(pairs, -1.))
            top, index = pairs.topk(self.kept_pairs[level], dim=1)
            prior = torch.div(index, num_classes, rounding_mode='floor')
            scores.append(top)
            labels.append(index % num_classes)
            priors.append(getattr(self, f'priors{level}')[prior])
            delta = outs[1][level].permute(0, 2, 3, 1).reshape(batch, -1, size)
            deltas.append(torch.gather(delta, 1, prior[..., None].expand(-1, -1, size)))
            if self.centerness:
                factor = outs[2][level].permute(0, 2, 3, 1).reshape(batch, -1).sigmoid()
                factors.append(torch.gather(factor, 1, prior))
        scores, labels = torch.cat(scores, 1), torch.cat(labels, 1)
        boxes = self.decode(torch.cat(priors, 1), torch.cat(deltas, 1))
        valid = scores > score_thr
        if self.centerness:
            scores = scores * torch.cat(factors, 1)
        min_size = self.cfg.get('min_bbox_size', -1)
        if min_size >= 0:
            valid = valid & ((boxes[..., 2] - boxes[..., 0]) > min_size) \
                & ((boxes[..., 3] - boxes[..., 1]) > min_size)
        scores = torch.where(valid, scores, torch.full_like(scores, -1.))
        return self.nms(boxes, scores, labels)

    def decode(self, priors: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """The head's own decoding function, clipped to the input. (mmdet
        3.3's coders, under ONNX export, take a branch of mmdet 2.x that
        imports ``mmdet.core.export``, gone since; their functions, called
        directly, do not.)"""
        from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import delta2bbox
        from mmdet.structures.bbox import distance2bbox
        coder, shape = self.head.bbox_coder, priors.shape[:2]
        if self.centerness:
            boxes = distance2bbox(priors, deltas)
        else:
            boxes = delta2bbox(priors.reshape(-1, 4), deltas.reshape(-1, 4), coder.means,
                               coder.stds, add_ctr_clamp=coder.add_ctr_clamp,
                               ctr_clamp=coder.ctr_clamp).reshape(*shape, 4)
        if coder.clip_border:
            limit = boxes.new_tensor([self.width, self.height] * 2)
            boxes = torch.min(boxes.clamp(min=0), limit)
        return boxes

    def nms(self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor):
        """mmcv's batched NMS (per class, unless ``class_agnostic``) as ONNX's
        NonMaxSuppression, then the best ``max_per_img``."""
        nms_cfg = self.cfg.get('nms', {})
        max_per_img = self.cfg.get('max_per_img', 100)
        if nms_cfg.get('class_agnostic', False):
            class_scores = scores[:, None]
        else:
            classes = torch.arange(self.head.num_classes, device=scores.device)
            class_scores = torch.where(labels[:, None] == classes[None, :, None],
                                       scores[:, None], torch.full_like(scores[:, None], -1.))
        # Valid scores are > 0 (a sigmoid or softmax, above score_thr >= 0), dropped ones -1.
        selected = _OnnxNms.apply(boxes, class_scores, max_per_img,
                                  float(nms_cfg.get('iou_threshold', 0.5)), 0.)
        kept = torch.zeros_like(scores, dtype=torch.bool)
        kept[selected[:, 0], selected[:, 2]] = True
        best, order = torch.where(kept, scores, torch.full_like(scores, -1.)).topk(
            min(max_per_img, sum(self.kept_pairs)), dim=1)
        found = best > 0
        boxes = torch.gather(boxes, 1, order[..., None].expand(-1, -1, 4))
        dets = torch.cat([boxes, best[..., None]], -1) * found[..., None]
        labels = torch.where(found, torch.gather(labels, 1, order), torch.full_like(order, -1))
        return dets, labels


class ClassifierGraph(nn.Module):
    """Logits of a CreamClassifier (or of a CreamNet with its head)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.net = getattr(model, 'backbone', model)

    def forward(self, x):
        return self.net(x)


def export_graph(model: nn.Module, kind: str, input_hw: Sequence[int]) -> tuple:
    """The module to export for ``model`` and its output names."""
    if kind == 'detector':
        return DetectorGraph(model, input_hw), list(DETECTOR_OUTPUTS)
    if kind == 'classifier':
        return ClassifierGraph(model), ['logits']
    with torch.no_grad():
        count = len(model(torch.zeros(1, 3, *input_hw)))
    return model, [f'feat{i}' for i in range(count)]


def export_onnx(model: nn.Module, out_file: str, input_shape: Sequence[int],
                opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
                metadata: Optional[dict] = None) -> str:
    """Write ``model`` (see :func:`export_kind`) to ``out_file`` for inputs of
    ``input_shape`` (B, 3, H, W), the batch dimension free with
    ``dynamic_batch``; ``metadata`` (JSON-able values) goes into the file's
    metadata_props beside the kind, the input shape and the output names.
    Returns ``out_file``.

    The exporter is torch's TorchScript-based one (``dynamo=False``, which
    torch 2.14 still has and calls legacy): ONNX's NonMaxSuppression, with
    its batch and class dimensions, is reachable only through a symbolic
    function, which the dynamo exporter does not take (it traces the eager
    fallback instead, unrolled for the traced batch and classes; tried here).
    """
    onnx = _import('onnx')
    if len(input_shape) != 4 or input_shape[1] != 3:
        raise ConfigError(f'input shape {tuple(input_shape)}: expected (batch, 3, H, W)')
    model = model.eval()
    kind = export_kind(model)
    graph, output_names = export_graph(model, kind, input_shape[2:])
    dummy = torch.randn(*input_shape, generator=torch.Generator().manual_seed(0))
    names = [INPUT_NAME, *output_names]
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(graph.eval(), (dummy,), out_file, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=output_names,
                          dynamic_axes={n: {0: 'batch'} for n in names} if dynamic_batch
                          else None)
    proto = onnx.load(out_file)
    meta = dict(metadata or {}, kind=kind, input_shape=list(input_shape),
                dynamic_batch=dynamic_batch, output_names=output_names, opset=opset)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, out_file)
    return out_file


def read_metadata(file: str) -> dict:
    """The metadata :func:`export_onnx` wrote into ``file``, values decoded."""
    from .runtimes import check_onnx
    onnx = _import('onnx')
    check_onnx(file, f'ONNX file {file}')
    proto = onnx.load(file, load_external_data=False)
    meta = {}
    for entry in proto.metadata_props:
        try:
            meta[entry.key] = json.loads(entry.value)
        except json.JSONDecodeError:  # written by another tool
            meta[entry.key] = entry.value
    return meta


def git_commit(repo: str = REPO) -> str:
    """The commit of the working tree ``repo``, with ``-dirty`` when tracked
    files differ from it; 'unknown' outside git."""
    def git(*args):
        return subprocess.run(['git', '-C', repo, *args], capture_output=True, text=True)
    head = git('rev-parse', 'HEAD')
    if head.returncode:
        return 'unknown'
    dirty = git('diff', '--quiet', 'HEAD').returncode != 0
    return head.stdout.strip() + ('-dirty' if dirty else '')
