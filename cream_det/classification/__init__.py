"""Pretraining a chosen child: the metric, the arch-in-meta hook and the
inference API; the model is :class:`~cream_det.models.CreamClassifier`."""
from .apis import inference_classifier, init_classifier
from .hooks import ArchInMetaHook
from .metrics import TopKAccuracy

__all__ = ['ArchInMetaHook', 'TopKAccuracy', 'inference_classifier', 'init_classifier']
