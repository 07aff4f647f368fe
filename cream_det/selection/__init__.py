"""From a trained search to its arch, one mechanism for every search: each
path scored by the search's metric on held-out data after BatchNorm
recalibration (:class:`PathScorer`), the choice (:func:`choose_arch`), the
arch hook that makes it when a search ends, and one arch per budget."""
from .choice import choose_arch, write_choice
from .hooks import CreamArchHook
from .scoring import PathScorer, calibration_loader, recalibrated_metrics

__all__ = ['CreamArchHook', 'PathScorer', 'calibration_loader', 'choose_arch',
           'recalibrated_metrics', 'write_choice']
