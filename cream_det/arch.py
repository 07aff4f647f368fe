"""One candidate network of a search space, and the forms its ops take.

An :class:`Arch` names the op of every searchable layer (``'k5e6'``). Inside a
supernet the same choice is an :data:`OpPath`, the op indices per layer per
stage, and on the board a flat row of indices. This module is the one place
that converts between them (:meth:`Arch.path`, :meth:`Arch.from_path`,
:func:`split_path`, :func:`flatten_path`) and draws random paths
(:func:`sample_path`); the official list format comes in through
:meth:`Arch.from_official`.

An arch file is JSON or YAML that a person can read and edit::

    {"space": "cream", "resolution": 224,
     "stages": [["k3e4"], ["k5e6", "k5e6"], ...]}

Other keys (FLOPs, parameters, the final board of a search) are kept as
``meta`` and written back unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch

from .errors import ArchError, CreamError, MissingFileError
from .space import SEARCH_SPACES, SearchSpace, build_space

OpPath = list  # list[list[int]]: the op index of every layer, per searchable stage


def split_path(flat: Sequence[int], depths: Sequence[int]) -> OpPath:
    """A flat row of op indices (a board entry) -> one list per stage."""
    if len(flat) != sum(depths):
        raise ArchError(f'a flat path of {len(flat)} ops does not fit depths {list(depths)}')
    path, start = [], 0
    for depth in depths:
        path.append([int(op) for op in flat[start:start + depth]])
        start += depth
    return path


def flatten_path(path: OpPath) -> list[int]:
    return [int(op) for ops in path for op in ops]


def sample_path(depths: Sequence[int], num_ops: int, generator: torch.Generator,
                probs: Optional[torch.Tensor] = None) -> OpPath:
    """One op per layer, uniformly or with op probabilities ``probs``, drawn
    from ``generator`` alone so that a seed gives the same paths anywhere."""
    total = sum(depths)
    if probs is None:
        flat = torch.randint(num_ops, (total,), generator=generator)
    else:
        flat = torch.multinomial(probs.cpu(), total, replacement=True, generator=generator)
    return split_path(flat.tolist(), depths)


def _readable_json(data: dict) -> str:
    """JSON with one line per stage, as a person would write it."""
    stages = data['stages']
    text = json.dumps(dict(data, stages='@STAGES@'), indent=2)
    lines = ',\n'.join('    ' + json.dumps(ops) for ops in stages)
    return text.replace('"@STAGES@"', '[\n' + lines + '\n  ]') + '\n'


@dataclass(frozen=True)
class Arch:
    space: SearchSpace
    stages: tuple  # tuple of tuples of op names, one tuple per searchable stage
    resolution: int
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, 'stages', tuple(tuple(s) for s in self.stages))
        self.validate()

    def validate(self) -> None:
        where = f'arch for space {self.space.name!r}'
        if len(self.stages) != self.space.num_stages:
            raise ArchError(f'{where}: {len(self.stages)} stages given, expected '
                            f'{self.space.num_stages} searchable stages')
        for s, ops in enumerate(self.stages, start=1):
            if len(ops) == 0:
                raise ArchError(f'{where}: stage {s} has no layer; every stage needs at least one')
            for layer, op in enumerate(ops, start=1):
                if op not in self.space.ops:
                    raise ArchError(f'{where}: stage {s}, layer {layer}: unknown op {op!r}; '
                                    f'expected one of {list(self.space.ops)}')
        try:
            self.space.check_resolution(self.resolution)
        except CreamError as err:
            raise ArchError(f'{where}: {err}') from None

    @property
    def depths(self) -> list[int]:
        return [len(ops) for ops in self.stages]

    def path(self) -> OpPath:
        """The op indices of this arch, as a supernet of its depths runs it."""
        return [[self.space.ops.index(op) for op in ops] for ops in self.stages]

    @classmethod
    def from_path(cls, space: SearchSpace, path: OpPath, resolution: int) -> 'Arch':
        for s, ops in enumerate(path, start=1):
            for layer, op in enumerate(ops, start=1):
                if not 0 <= int(op) < len(space.ops):
                    raise ArchError(f'path: stage {s}, layer {layer}: op index {op} is not in '
                                    f'0..{len(space.ops) - 1}')
        return cls(space, tuple(tuple(space.ops[int(op)] for op in ops) for ops in path),
                   resolution)

    def __str__(self) -> str:
        return ' / '.join(' '.join(ops) for ops in self.stages) + f' @{self.resolution}'

    # -- the official Cream list format ---------------------------------
    @classmethod
    def from_official(cls, arch_list: Sequence[Sequence[int]],
                      space: Union[str, dict, SearchSpace] = 'cream',
                      resolution: int = 224) -> 'Arch':
        """Convert an official list (``[[0], [3], [3, 3], ..., [0]]``).

        The outer fixed stages may be present or not. The official
        ``gen_childnet`` keeps the template op in any stage that has a single
        layer, whatever choice is listed; this reproduces what it built.
        """
        space = build_space(space)
        lists = [list(x) for x in arch_list]
        if len(lists) == space.num_stages + 2:
            lists = lists[1:-1]
        if len(lists) != space.num_stages:
            raise ArchError(f'official arch list has {len(arch_list)} entries; expected '
                            f'{space.num_stages} searchable stages, or {space.num_stages + 2} '
                            'with the fixed first and last')
        stages = []
        for s, choices in enumerate(lists):
            if len(choices) == 1:
                stages.append((space.template_op(s),))
                continue
            ops = []
            for layer, choice in enumerate(choices):
                if not 0 <= int(choice) < len(space.ops):
                    raise ArchError(f'official arch list: stage {s + 1}, layer {layer + 1}: '
                                    f'choice {choice} is not in 0..{len(space.ops) - 1}')
                ops.append(space.ops[int(choice)])
            stages.append(tuple(ops))
        return cls(space, tuple(stages), resolution)

    # -- files -----------------------------------------------------------
    def to_dict(self) -> dict:
        # A space that is not registered (declared in a config) is written
        # out whole, so that the file stands on its own.
        registered = SEARCH_SPACES.get(self.space.name) == self.space
        space = self.space.name if registered else dataclasses.asdict(self.space)
        data = {'space': space, 'resolution': self.resolution,
                'stages': [list(ops) for ops in self.stages]}
        data.update({k: v for k, v in self.meta.items() if k not in data})
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = 'arch') -> 'Arch':
        missing = [k for k in ('space', 'stages', 'resolution') if k not in data]
        if missing:
            raise ArchError(f'{source}: missing key(s) {missing}; an arch file needs '
                            "'space', 'resolution' and 'stages'")
        space = build_space(data['space'])
        stages = data['stages']
        if not isinstance(stages, list) or not all(isinstance(s, list) for s in stages):
            raise ArchError(f"{source}: 'stages' must be a list of lists of op names")
        meta = {k: v for k, v in data.items() if k not in ('space', 'stages', 'resolution')}
        try:
            return cls(space, tuple(tuple(s) for s in stages), data['resolution'], meta)
        except ArchError as err:
            raise ArchError(f'{source}: {err}') from None

    def dump(self, path: str) -> None:
        data = self.to_dict()
        with open(path, 'w') as f:
            if path.endswith(('.yaml', '.yml')):
                import yaml
                yaml.safe_dump(data, f, sort_keys=False)
            else:
                f.write(_readable_json(data))

    @classmethod
    def load(cls, path: str) -> 'Arch':
        if not os.path.isfile(path):
            raise MissingFileError(f'arch file {path!r} does not exist')
        import yaml
        with open(path) as f:
            try:
                data = yaml.safe_load(f) if path.endswith(('.yaml', '.yml')) else json.load(f)
            except (json.JSONDecodeError, yaml.YAMLError) as err:
                kind = 'YAML' if path.endswith(('.yaml', '.yml')) else 'JSON'
                raise ArchError(f'arch file {path} is not valid {kind} (truncated?): '
                                f'{err}') from None
        if not isinstance(data, dict):
            raise ArchError(f'{path}: expected a mapping with space, resolution and stages')
        return cls.from_dict(data, source=path)
