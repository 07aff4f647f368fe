"""The Cream search: the algorithms (:class:`CreamSearch` on
classification, :class:`CreamDetSearch` inside a detector, both on
:class:`PathSearch`), the board, the arch hooks and the final choice, and
the scoring of one path."""
from .analysis import board_versus_uniform
from .board import PrioritizedBoard
from .cream_search import CreamSearch, CreamSearchParallel, MetaMatchingNetwork
from .det_search import CreamDetSearch, channel_wise_divergence
from .evaluation import calibration_loader, path_accuracy, recalibrated_accuracy
from .hooks import CreamArchHook, CreamDetArchHook
from .path_search import PathSearch
from .selection import choose_arch, write_choice

__all__ = ['CreamArchHook', 'CreamDetArchHook', 'CreamDetSearch', 'CreamSearch',
           'CreamSearchParallel', 'MetaMatchingNetwork', 'PathSearch', 'PrioritizedBoard',
           'board_versus_uniform', 'calibration_loader', 'channel_wise_divergence',
           'choose_arch', 'path_accuracy', 'recalibrated_accuracy', 'write_choice']
