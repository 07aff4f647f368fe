"""From a trained search to its arch: each path scored by the search's
metric on held-out data after BatchNorm recalibration, the choice, the arch
hook that makes it when a search ends, and one arch per budget."""
from .choice import choose_arch, write_choice
from .hooks import CreamArchHook, CreamDetArchHook
from .scoring import calibration_loader, path_accuracy, recalibrated_accuracy

__all__ = ['CreamArchHook', 'CreamDetArchHook', 'calibration_loader', 'choose_arch',
           'path_accuracy', 'recalibrated_accuracy', 'write_choice']
