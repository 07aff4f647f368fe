"""Cream of the Crop NAS (Peng et al., NeurIPS 2020) for OpenMMLab.

Importing the package registers its models in mmdet's MODELS, so
``custom_imports=dict(imports=['cream_det'])`` in a config is enough.
"""
from . import checkpoint  # noqa: F401  (cream:// and cream-ema:// checkpoint schemes)
from . import compat  # noqa: F401  (torch.load safe types for mmengine resume)
from .arch import Arch, ArchError
from . import datasets, evaluation, optim, search  # noqa: F401  (registry entries)
from .models import CreamClassifier, CreamNet, CreamSuperNet
from .registry import published_archs, resolve_arch
from .space import SEARCH_SPACES, SearchSpace, build_space

__all__ = ['Arch', 'ArchError', 'CreamClassifier', 'CreamNet', 'CreamSuperNet', 'SEARCH_SPACES', 'SearchSpace',
           'build_space', 'published_archs', 'resolve_arch']
