"""Cream of the Crop NAS (Peng et al., NeurIPS 2020) for OpenMMLab.

Importing the package registers its models, datasets, metrics, hooks,
optimisers and checkpoint schemes in the OpenMMLab registries, so
``custom_imports=dict(imports=['cream_det'])`` in a config is enough. It
changes nothing else in the process: the version workarounds of
:mod:`cream_det.compat` are turned on by the tools (``compat.apply()``).

The pipeline, in the order of the package: ``space`` -> ``arch`` (and the
published ``archs``) -> ``cost`` -> ``models`` -> ``search`` ->
``classification`` -> ``detection``; ``datasets`` feed them.
"""
from . import checkpoint  # noqa: F401  (cream:// and cream-ema:// checkpoint schemes)
from . import classification, datasets, experiments, optim, search, selection  # noqa: F401  (registry entries)
from .arch import Arch
from .archs import published_archs, resolve_arch
from .errors import ArchError, CreamError
from .models import CreamClassifier, CreamNet, CreamSuperNet
from .space import SEARCH_SPACES, SearchSpace, build_space

__all__ = ['Arch', 'ArchError', 'CreamClassifier', 'CreamError', 'CreamNet', 'CreamSuperNet',
           'SEARCH_SPACES', 'SearchSpace', 'build_space', 'published_archs', 'resolve_arch']
