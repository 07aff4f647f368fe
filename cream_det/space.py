"""Search spaces as data.

A space says what every network in it shares (stem, fixed first and last
blocks, head) and what is searched (the candidate ops of each layer of the
five stages). The Cream space of the paper is registered as ``'cream'``; a
user declares another one as a plain dict in a config (the same keys as
:class:`SearchSpace`), no Python needed.

Blocks are written in timm's EfficientNet block-string notation
(``ir_r1_k5_s2_e6_c40_se0.25``) so that timm's own decoder and builder turn
them into modules.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from .errors import ConfigError, UnknownNameError

SEARCH_SPACES: dict = {}  # name -> SearchSpace

_OP_PATTERN = re.compile(r'^k(\d+)e(\d+)$')


def parse_op(op: str) -> tuple[int, int]:
    """``'k5e6'`` -> (kernel 5, expansion 6)."""
    match = _OP_PATTERN.match(op)
    if match is None:
        raise ConfigError(f"op {op!r} is not of the form 'k<kernel>e<expansion>', e.g. 'k5e6'")
    return int(match.group(1)), int(match.group(2))


def _block_field(block: str, key: str) -> str:
    for part in block.split('_')[1:]:
        if re.fullmatch(key + r'[\d.]+', part):
            return part[len(key):]
    raise ConfigError(f'block string {block!r} has no {key!r} field')


def check_resolution(resolution, stride: int = 32) -> None:
    """The one rule for input sizes: a network that downsamples ``stride``
    times loses border pixels at any size that is not a multiple of it."""
    if not isinstance(resolution, int) or resolution <= 0 or resolution % stride:
        raise ConfigError(
            f'resolution {resolution!r} must be a positive multiple of {stride}, as the networks '
            f'downsample {stride} times: expected a multiple of {stride}, e.g. '
            + ', '.join(str(stride * k) for k in (1, 2, 5, 7)))


@dataclass(frozen=True)
class BudgetRule:
    """The official Cream rule (``search_for_layer``) from a FLOPs budget to
    stage depths and input resolution.

    ``op_flops[stage][op]`` holds, in MFLOPs at 224, the cost of the stage's
    first layer (index 0) and of each further layer (index 1) with that op.
    Starting from one layer per stage, layers of the most expensive op are
    added stage by stage in ``order`` up to ``limits`` template entries while
    the budget's upper bound allows; below the lower bound of what one layer
    per stage costs, the resolution shrinks in steps of 32 instead.
    ``entry_layers[stage][i]`` is how many layers the i-th template entry of a
    stage builds (the official stage 3 ends with a repeat-2 entry).
    """
    op_flops: tuple
    order: tuple
    limits: tuple
    entry_layers: tuple
    max_resolution: int = 224

    def max_flops(self) -> float:
        """What the deepest supernet costs at full resolution (MFLOPs)."""
        first = sum(stage[-1][0] for stage in self.op_flops)
        extra = sum((max(self.limits[i] for i, s in enumerate(self.order) if s == stage) - 1)
                    * self.op_flops[stage][-1][1] for stage in range(len(self.op_flops)))
        return first + extra

    def min_flops(self) -> float:
        """The smallest budget upper bound that resolution 64 meets, under the
        official rescaling of the budget at each step down in resolution."""
        top = self.max_resolution // 32
        scale = 1.0
        for size_factor in range(top - 1, 1, -1):
            scale *= top / size_factor
        return sum(stage[0][0] for stage in self.op_flops) / scale

    def __call__(self, flops_min: float, flops_max: float) -> tuple[list[int], int]:
        """Return (layers per stage, resolution) for a budget in MFLOPs."""
        asked = f'({flops_min:g}, {flops_max:g}) MFLOPs'
        if flops_min >= flops_max:
            raise ConfigError(f'FLOPs budget ({flops_min}, {flops_max}): the lower bound '
                              'must be below the upper bound')
        entries = [1] * len(self.op_flops)
        size_factor = self.max_resolution // 32
        cheapest = sum(stage[0][0] for stage in self.op_flops)
        dearest = sum(stage[-1][0] for stage in self.op_flops)
        feasible = (f'feasible budgets have an upper bound of at least {self.min_flops():.1f} '
                    f'and a lower bound of at most {self.max_flops():.1f} MFLOPs')
        if cheapest > flops_max:
            # As the official rule: the budget is rescaled by 7/size_factor,
            # cumulatively, at each step down in resolution.
            while cheapest > flops_max and size_factor >= 2:
                size_factor -= 1
                flops_min *= (self.max_resolution // 32) / size_factor
                flops_max *= (self.max_resolution // 32) / size_factor
            if size_factor < 2:
                raise ConfigError(f'no depth meets the FLOPs budget {asked}: '
                                  + feasible)
        elif dearest < flops_min:
            ptr = 0
            while dearest < flops_min and ptr < len(self.order):
                if entries[self.order[ptr]] >= self.limits[ptr]:
                    ptr += 1
                    continue
                dearest += self.op_flops[self.order[ptr]][-1][1]
                entries[self.order[ptr]] += 1
            if dearest < flops_min:
                raise ConfigError(f'no depth meets the FLOPs budget {asked}: '
                                  + feasible)
        ptr = 0
        while ptr < len(self.order):
            stage = self.order[ptr]
            if entries[stage] >= self.limits[ptr]:
                ptr += 1
                continue
            dearest += self.op_flops[stage][-1][1]
            if dearest > flops_max:
                break
            entries[stage] += 1
        depths = [sum(self.entry_layers[s][:n]) for s, n in enumerate(entries)]
        return depths, size_factor * 32


@dataclass(frozen=True)
class SearchSpace:
    """Everything a Cream network is built from.

    ``stages`` are the template blocks of the searchable stages: channels,
    stride of the stage's first layer and the op that a fixed single layer
    uses. ``ops`` are the candidates of every searchable layer, in the order
    that official arch lists index them.
    """
    name: str
    stem_channels: int
    first_block: str
    stages: tuple
    ops: tuple
    last_block: str
    head_channels: int
    se_ratio: float = 0.25
    budget_rule: Optional[BudgetRule] = None
    default_depths: tuple = field(default=(1, 1, 1, 1, 1))
    default_resolution: int = 224

    def __post_init__(self):
        for op in self.ops:
            parse_op(op)
        for block in self.stages:
            int(_block_field(block, 'c'))

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def stage_channels(self, stage: int) -> int:
        return int(_block_field(self.stages[stage], 'c'))

    def stage_stride(self, stage: int) -> int:
        return int(_block_field(self.stages[stage], 's'))

    def template_op(self, stage: int) -> str:
        block = self.stages[stage]
        return f"k{_block_field(block, 'k')}e{_block_field(block, 'e')}"

    def feature_channels(self) -> list[int]:
        """Output channels of every top-level block stage of a network: the
        fixed first block, the searchable stages, the fixed last block."""
        return ([int(_block_field(self.first_block, 'c'))]
                + [self.stage_channels(s) for s in range(self.num_stages)]
                + [int(_block_field(self.last_block, 'c'))])

    def feature_strides(self) -> list[int]:
        """Output stride of every top-level block stage (the stem has 2)."""
        strides, total = [], 2
        for block in (self.first_block, *self.stages, self.last_block):
            total *= int(_block_field(block, 's'))
            strides.append(total)
        return strides

    def check_resolution(self, resolution) -> None:
        check_resolution(resolution, self.feature_strides()[-1])

    def check_out_indices(self, out_indices: Sequence[int]) -> list[int]:
        """The output channels of a backbone's ``out_indices``; every arch of
        the space has the same ones (see :meth:`feature_channels`)."""
        channels, strides = self.feature_channels(), self.feature_strides()
        indices = list(out_indices)
        bad = [i for i in indices if not 0 <= i < len(channels)]
        if bad or not indices or indices != sorted(set(indices)):
            table = ', '.join(f'{i}: {c}ch/s{s}' for i, (c, s) in enumerate(zip(channels, strides)))
            problem = f'{bad} do not exist' if bad else 'not distinct and ascending'
            raise ConfigError(f'out_indices={indices}: {problem}; expected distinct ascending '
                              f'indices in 0..{len(channels) - 1} of the outputs of space '
                              f'{self.name!r} ({table})')
        return [channels[i] for i in indices]

    def block_string(self, stage: int, layer: int, op: str) -> str:
        """The timm block string of one layer with op ``op``."""
        kernel, expansion = parse_op(op)
        stride = self.stage_stride(stage) if layer == 0 else 1
        se = f'_se{self.se_ratio:g}' if self.se_ratio else ''
        return f'ir_r1_k{kernel}_s{stride}_e{expansion}_c{self.stage_channels(stage)}{se}'

    def supernet_layout(self, budget: Optional[Sequence[float]] = None,
                        depths: Optional[Sequence[int]] = None) -> tuple[list[int], int]:
        """(layers per stage, resolution) of the supernet for a FLOPs budget
        in MFLOPs, or for explicit depths at the space's default resolution."""
        if budget is not None and depths is not None:
            raise ConfigError('give either a FLOPs budget or depths, not both')
        if depths is not None:
            depths = [int(d) for d in depths]
            if len(depths) != self.num_stages or min(depths) < 1:
                raise ConfigError(f'depths {depths}: expected {self.num_stages} stages of at '
                                  'least one layer each')
            return depths, self.default_resolution
        if budget is None:
            return list(self.default_depths), self.default_resolution
        if self.budget_rule is None:
            raise ConfigError(f'search space {self.name!r} has no budget_rule: give depths')
        if len(budget) != 2:
            raise ConfigError(f'FLOPs budget {budget!r}: expected (min, max) in MFLOPs')
        return self.budget_rule(float(budget[0]), float(budget[1]))


def build_space(space: Union[str, dict, SearchSpace]) -> SearchSpace:
    """A registered name, a dict of :class:`SearchSpace` fields (or of a
    ``base`` space's name and the fields that differ), or a space."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, str):
        if space not in SEARCH_SPACES:
            raise UnknownNameError(f'unknown search space {space!r}; '
                                   f'known: {sorted(SEARCH_SPACES)}')
        return SEARCH_SPACES[space]
    if isinstance(space, dict):
        fields = dict(space)
        if 'base' in fields:
            # A variant of a registered space names only what it changes; the
            # base's budget rule is per op, so it does not carry over.
            base = build_space(fields.pop('base'))
            if 'name' not in fields:
                raise ConfigError(f'a space derived from {base.name!r} needs a name of its own')
            fields = {**dataclasses.asdict(base), 'budget_rule': None, **fields}
        rule = fields.pop('budget_rule', None)
        if isinstance(rule, dict):
            rule = BudgetRule(**{k: _freeze(v) for k, v in rule.items()})
        try:
            return SearchSpace(budget_rule=rule, **{k: _freeze(v) for k, v in fields.items()})
        except TypeError as err:  # a misspelt or missing field
            raise ConfigError(f'search space {fields.get("name", "")!r}: {err}; the fields are '
                              f'those of cream_det.space.SearchSpace') from None
    raise ConfigError(f'search space must be a name, a dict or a SearchSpace, got {type(space)}')


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def register_space(space: SearchSpace) -> SearchSpace:
    if space.name in SEARCH_SPACES:
        raise ConfigError(f'search space {space.name!r} is registered already')
    SEARCH_SPACES[space.name] = space
    return space


# The official per-op FLOPs table (Cream/lib/utils/op_by_layer_dict.py), in
# MFLOPs at 224: per stage, per op k3e4 ... k7e6, (first layer, extra layer).
_CREAM_OP_FLOPS = (
    ((21.828704, 18.820752), (32.669328, 28.16048), (25.039968, 23.637648),
     (37.486224, 35.385824), (29.856864, 30.862992), (44.711568, 46.22384)),
    ((11.808656, 11.86712), (17.68624, 17.780848), (13.01288, 13.87416),
     (19.492576, 20.791408), (14.819216, 16.88472), (22.20208, 25.307248)),
    ((8.198, 10.99632), (12.292848, 16.5172), (8.69976, 11.99984),
     (13.045488, 18.02248), (9.4524, 13.50512), (14.174448, 20.2804)),
    ((12.006112, 15.61632), (18.028752, 23.46096), (13.009632, 16.820544),
     (19.534032, 25.267296), (14.514912, 18.62688), (21.791952, 27.9768)),
    ((11.307456, 15.292416), (17.007072, 23.1504), (11.608512, 15.894528),
     (17.458656, 24.053568), (12.060096, 16.797696), (18.136032, 25.40832)),
)

CREAM_SPACE = register_space(SearchSpace(
    name='cream',
    stem_channels=16,
    first_block='ds_r1_k3_s1_e1_c16_se0.25',
    stages=('ir_r1_k3_s2_e4_c24_se0.25', 'ir_r1_k5_s2_e4_c40_se0.25',
            'ir_r1_k3_s2_e6_c80_se0.25', 'ir_r1_k3_s1_e6_c96_se0.25',
            'ir_r1_k5_s2_e6_c192_se0.25'),
    ops=('k3e4', 'k3e6', 'k5e4', 'k5e6', 'k7e4', 'k7e6'),
    last_block='cn_r1_k1_s1_c320_se0.25',
    head_channels=1280,
    budget_rule=BudgetRule(
        op_flops=_CREAM_OP_FLOPS,
        order=(2, 3, 4, 1, 0, 2, 3, 4, 1, 0),
        limits=(3, 3, 3, 2, 2, 4, 4, 4, 4, 4),
        entry_layers=((1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 2), (1, 1, 1, 1), (1, 1, 1, 1)),
    ),
    default_depths=(4, 4, 5, 4, 4),
))
