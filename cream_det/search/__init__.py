from .board import PrioritizedBoard
from .cream_search import CreamSearch, CreamSearchParallel, MetaMatchingNetwork
from .hooks import CreamArchHook
from .optim import SubmoduleOptimWrapperConstructor

__all__ = ['CreamArchHook', 'CreamSearch', 'CreamSearchParallel', 'MetaMatchingNetwork',
           'PrioritizedBoard', 'SubmoduleOptimWrapperConstructor']
