"""CreamNet as an mmengine image classifier, for the pretraining recipe."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from ..errors import ConfigError
from .common import inner_args
from .cream_net import CreamNet


@MODELS.register_module()
class CreamClassifier(BaseModel):
    """A :class:`CreamNet` with a label-smoothed cross-entropy loss.

    Args:
        backbone: :class:`CreamNet` arguments (``arch``, ``num_classes``,
            ``drop_rate``...), without ``out_indices``; or a built
            :class:`CreamNet` (a supernet's child, to be scored).
        label_smoothing: of the training loss (evaluation loss has none).

    ``predict`` returns one ``dict(pred_score=softmax, gt_label=int or None)``
    per image, what :class:`~cream_det.classification.TopKAccuracy` reads.
    """

    def __init__(self, backbone: dict | CreamNet, label_smoothing: float = 0.1,
                 data_preprocessor: dict | None = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(backbone, CreamNet):
            backbone = CreamNet(**inner_args(backbone, 'CreamNet', 'CreamClassifier'))
        if not backbone.with_head:
            raise ConfigError('a classifier backbone returns logits: out_indices must be unset')
        self.backbone = backbone
        self.label_smoothing = label_smoothing

    @staticmethod
    def adapt_state_dict(state: dict) -> dict:
        """A bare CreamNet state dict (an official release file's) gets the
        ``backbone.`` prefix of this model; other state dicts pass as they are."""
        if any(k.startswith('backbone.') for k in state):
            return state
        return {'backbone.' + k: v for k, v in state.items()}

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        logits = self.backbone(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = torch.as_tensor(data_samples, device=logits.device)
            return dict(loss=F.cross_entropy(logits, labels,
                                             label_smoothing=self.label_smoothing))
        if mode == 'predict':
            scores = F.softmax(logits.float(), dim=1)
            labels = data_samples if data_samples is not None else [None] * len(scores)
            return [dict(pred_score=s, gt_label=None if y is None else int(y))
                    for s, y in zip(scores, labels)]
        raise ConfigError(f"mode={mode!r}: expected 'tensor', 'loss' or 'predict'")
