"""Every workaround for a version of the stack, each labelled with the
version it targets; :func:`apply` turns them on. The tools call it before
they build a runner (:mod:`cream_det.cli`); importing ``cream_det`` does not,
so that a library user's process keeps torch's own defaults unless asked.
"""
import pickle
import warnings

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals():
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = {type(np.dtype(name)) for name in ('float64', 'float32', 'int64', 'int32', 'bool')}
    return [scalar, _reconstruct, np.ndarray, np.dtype, *dtypes]


def _history_buffer_method(owner, name):
    """Stands in for ``getattr`` while loading, for HistoryBuffer's public
    methods only; allowing the real ``getattr`` would let a file reach any
    attribute of anything it may name."""
    if owner is HistoryBuffer and not name.startswith('_') \
            and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer methods '
        'are allowed')


def allow_mmengine_checkpoints() -> None:
    """torch >= 2.6 with mmengine 0.10.7: mmengine resumes with a plain
    ``torch.load``, whose ``weights_only`` default refuses the few non-tensor
    objects mmengine's own checkpoints hold: its log buffers
    (``HistoryBuffer``) with their numpy arrays, numpy scalars and dtypes, and
    the buffers' statistics methods, which pickle names as
    ``getattr(HistoryBuffer, 'mean')``. Exactly these are allowed;
    ``weights_only`` stays on."""
    torch.serialization.add_safe_globals([
        HistoryBuffer, *_numpy_globals(),
        # pickle protocol 2 names the builtin module __builtin__, later ones builtins
        (_history_buffer_method, '__builtin__.getattr'),
        (_history_buffer_method, 'builtins.getattr'),
    ])


def quiet_pkg_resources_warning() -> None:
    """setuptools 81 with mmengine 0.10.7: mmengine resolves ``mmdet::`` config
    bases through ``pkg_resources``, which setuptools 81 warns is deprecated on
    every import (and setuptools 82 removed: tools/run.sh pins below it)."""
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)


def apply() -> None:
    allow_mmengine_checkpoints()
    quiet_pkg_resources_warning()
