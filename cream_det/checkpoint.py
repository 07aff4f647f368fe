"""Official Cream release checkpoints.

A release file (``287.pth.tar``) is a dict with ``state_dict`` and, where
trained with EMA, ``state_dict_ema``, beside training state: the epoch, the
optimizer, the run's arguments. Those arguments are objects of classes from
the 2020 code base (yacs, argparse), which ``torch.load(weights_only=True)``
refuses; :func:`read_checkpoint` reads such files without running any of
their code, keeping ``weights_only`` on for everything else.

With mmengine, ``init_cfg=dict(type='Pretrained', checkpoint='cream-ema://PATH')``
loads the EMA weights of a release file and ``cream://PATH`` its plain
weights (registered checkpoint schemes).
"""
from __future__ import annotations

import os
import pickle
import types
import zipfile

import torch
import torch.nn as nn
from mmengine.runner import CheckpointLoader

from .errors import CheckpointError, MissingFileError

STATE_KEYS = ('state_dict_ema', 'state_dict')


class OpaqueObject(dict):
    """Stands for an object whose class a checkpoint names but that is not
    needed to read weights (training arguments, say). It keeps the pickled
    state for inspection and runs none of that class's code."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.args = args

    def __setstate__(self, state):
        self.__dict__['pickled_state'] = state


def _restricted_pickle_module():
    from torch._weights_only_unpickler import _get_allowed_globals
    allowed = _get_allowed_globals()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            found = allowed.get(f'{module}.{name}')
            if found is not None:
                return found
            return type(f'Opaque[{module}.{name}]', (OpaqueObject,), {})

    return types.SimpleNamespace(__name__='cream_det_restricted_pickle',
                                 Unpickler=Unpickler, load=pickle.load)


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """``torch.load`` with ``weights_only``; for files that name other classes,
    the same tensors with those objects replaced by :class:`OpaqueObject`."""
    if not os.path.isfile(path):
        raise MissingFileError(f'checkpoint file {path} does not exist')
    # What torch.load raises on a file that is not a checkpoint, or a cut one.
    unreadable = (pickle.UnpicklingError, EOFError, RuntimeError, OSError,
                  zipfile.BadZipFile, UnicodeDecodeError)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass  # a file that names other classes (a release file), or not a checkpoint at all
    except unreadable as err:
        raise CheckpointError(f'{path} is not a readable checkpoint (truncated or '
                              f'corrupt?): {err}') from None
    try:
        return torch.load(path, map_location=map_location, weights_only=False,
                          pickle_module=_restricted_pickle_module())
    except unreadable as err:
        raise CheckpointError(f'{path} is not a readable checkpoint (truncated or '
                              f'corrupt?): {err}') from None


def select_state_dict(checkpoint: dict, ema: bool = True) -> dict:
    """The EMA weights if asked for and present, else the plain weights; a
    bare state dict is returned as it is. DDP's ``module.`` prefix is dropped.

    In an mmengine checkpoint written under EMAHook, ``state_dict`` holds the
    EMA weights and ``ema_state_dict`` the plain ones (``module.`` keys)."""
    if not ema and 'ema_state_dict' in checkpoint and 'state_dict' in checkpoint:
        return {k[len('module.'):]: v for k, v in checkpoint['ema_state_dict'].items()
                if k.startswith('module.')}
    keys = STATE_KEYS if ema else STATE_KEYS[1:]
    state = checkpoint
    for key in keys:
        if key in checkpoint:
            state = checkpoint[key]
            break
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def fit_problems(own: dict, state: dict, shown: int = 5) -> list[str]:
    """What keeps ``state`` from loading strictly into a model whose state
    dict is ``own``: missing and unexpected keys, shape mismatches (the first
    few of each; BatchNorm's ``num_batches_tracked`` counters aside)."""
    missing = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    for title, items in (('missing from the checkpoint', missing),
                         ('not in the model', unexpected), ('shape mismatch', shapes)):
        if items:
            more = f' (and {len(items) - shown} more)' if len(items) > shown else ''
            problems.append(f'{len(items)} {title}: {", ".join(items[:shown])}{more}')
    return problems


def check_fits(model: nn.Module, state: dict, source: str) -> None:
    """Raise one readable error listing the first mismatches, if any."""
    problems = fit_problems(model.state_dict(), state)
    if problems:
        arch = getattr(model, 'arch', None) \
            or getattr(getattr(model, 'backbone', None), 'arch', None)
        name = str(arch) if arch is not None else type(model).__name__
        raise CheckpointError(f'checkpoint {source} does not fit the model ({name}): '
                              + '; '.join(problems))


def load_weights(model: nn.Module, path: str, ema: bool = True) -> str:
    """Load a checkpoint strictly into ``model``, with one readable error if
    it does not fit; return which weights were taken.

    Any kind of file works: an official release file (its EMA weights if
    ``ema`` and present), an mmengine checkpoint (whose ``state_dict`` holds
    the EMA weights when EMAHook trained it), an exported backbone. A model
    may adapt the keys with ``adapt_state_dict`` (a classifier prefixes a
    bare CreamNet's).
    """
    checkpoint = read_checkpoint(path)
    which = next((k for k in (STATE_KEYS if ema else STATE_KEYS[1:]) if k in checkpoint),
                 'state dict')
    if not ema and 'ema_state_dict' in checkpoint:
        which = 'plain weights (ema_state_dict)'

    state = select_state_dict(checkpoint, ema)
    state = getattr(model, 'adapt_state_dict', lambda s: s)(state)
    check_fits(model, state, path)
    model.load_state_dict(state, strict=True)
    return which


@CheckpointLoader.register_scheme(prefixes='cream-ema://')
def _load_ema(filename, map_location=None):
    return {'state_dict': select_state_dict(
        read_checkpoint(filename[len('cream-ema://'):], map_location or 'cpu'), ema=True)}


@CheckpointLoader.register_scheme(prefixes='cream://')
def _load_plain(filename, map_location=None):
    return {'state_dict': select_state_dict(
        read_checkpoint(filename[len('cream://'):], map_location or 'cpu'), ema=False)}
