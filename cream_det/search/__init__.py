"""The Cream search: the algorithm (:class:`CreamSearch`), its board, the
arch hook and the final choice, and the scoring of one path."""
from .analysis import board_versus_uniform
from .board import PrioritizedBoard
from .cream_search import CreamSearch, CreamSearchParallel, MetaMatchingNetwork
from .evaluation import calibration_loader, path_accuracy, recalibrated_accuracy
from .hooks import CreamArchHook
from .selection import choose_arch, write_choice

__all__ = ['CreamArchHook', 'CreamSearch', 'CreamSearchParallel', 'MetaMatchingNetwork',
           'PrioritizedBoard', 'board_versus_uniform', 'calibration_loader', 'choose_arch',
           'path_accuracy', 'recalibrated_accuracy', 'write_choice']
