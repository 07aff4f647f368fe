"""The Cream search algorithm only: :class:`CreamSearch` on classification
(SPOS with ``distill=False``) and :class:`CreamDetSearch` inside a detector,
both on :class:`PathSearch`; the prioritized-path board and the constraint
that binds the paths. How a trained search is scored and its arch chosen is
:mod:`cream_det.selection`."""
from .board import PrioritizedBoard
from .constraint import Constraint
from .cream_search import CreamSearch, CreamSearchParallel, MetaMatchingNetwork
from .det_search import CreamDetSearch, channel_wise_divergence
from .path_search import PathSearch

__all__ = ['Constraint', 'CreamDetSearch', 'CreamSearch', 'CreamSearchParallel',
           'MetaMatchingNetwork', 'PathSearch', 'PrioritizedBoard', 'channel_wise_divergence']
