"""The published Cream archs, by name.

They ship as arch files beside this module; their names (``cream-287``) work
wherever an arch file path does, in the classification and the detection
pipelines alike (:func:`resolve_arch`).
"""
from __future__ import annotations

import os
from typing import Union

from ..arch import Arch
from ..errors import ConfigError, MissingFileError, UnknownNameError

ARCH_DIR = os.path.dirname(__file__)


def published_archs() -> list[str]:
    return sorted((f[:-len('.json')] for f in os.listdir(ARCH_DIR) if f.endswith('.json')),
                  key=lambda name: int(name.split('-')[-1]))


ArchLike = Union[str, dict, Arch]


def resolve_arch(arch: ArchLike) -> Arch:
    """An Arch, a published name, a path to a JSON/YAML arch file, or the
    dict such a file holds."""
    if isinstance(arch, Arch):
        return arch
    if isinstance(arch, dict):
        return Arch.from_dict(arch)
    if not isinstance(arch, str):
        raise ConfigError(f'arch must be a name, a file path, a dict or an Arch, got {type(arch)}')
    if arch in published_archs():
        return Arch.load(os.path.join(ARCH_DIR, arch + '.json'))
    if os.path.isfile(arch):
        return Arch.load(arch)
    if arch.endswith(('.json', '.yaml', '.yml')):
        raise MissingFileError(f'arch file {arch!r} does not exist')
    raise UnknownNameError(f'unknown arch {arch!r}: not a published name '
                           f'({", ".join(published_archs())}) nor an existing arch file')
