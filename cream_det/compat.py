"""Let mmengine resume on torch >= 2.6 with ``weights_only`` left on.

mmengine 0.10.7 resumes with a plain ``torch.load``, which since torch 2.6
refuses the few non-tensor objects that mmengine's own checkpoints hold: its
log buffers (``HistoryBuffer``) with their numpy arrays, numpy scalars and
dtypes, and the buffers' statistics methods, which pickle names as
``getattr(HistoryBuffer, 'mean')``. Exactly these are allowed here.
"""
import pickle

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


torch.serialization.add_safe_globals([
    HistoryBuffer, *_numpy_globals(),
    # pickle protocol 2 names the builtin module __builtin__, later ones builtins
    (_history_buffer_method, '__builtin__.getattr'),
    (_history_buffer_method, 'builtins.getattr'),
])
