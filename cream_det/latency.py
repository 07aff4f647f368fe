"""Measured latency of Cream networks on one device.

FLOPs predict the latency of depthwise networks poorly, so a
:class:`LatencyTable` holds what each candidate block of a supernet takes on
a device, measured there (``tools/analysis_tools/latency_table.py``), and
prices a path as the sum of its blocks, with the same look-up interface as
the FLOPs :class:`~cream_det.cost.CostTable`.

The blocks are timed as they deploy: the blocks of exported children
(:meth:`CreamSuperNet.export_child`), not the supernet's candidates, whose
entangled form slices shared weights on every call. Each block is timed on a
tensor of the shape it sees in the network, so the table prices one input
size, batch, dtype, thread count and device, all of which it records.

A sum of separately timed blocks misses what a whole network adds or saves
between them (call overheads, caches), so a table may store a linear
correction ``(a, b)``: a path's latency is ``a * sum + b`` ms. It is fitted
on whole children by ``tools/analysis_tools/benchmark_latency_table.py
--fit``; without it ``a = 1, b = 0``.

Parts run in PyTorch, eagerly, unless a *runner* says otherwise: a callable
that takes a module and its input and returns a call that runs it once,
with an ``info`` dict (its ``runtime``, ``runtime_version`` and
``threads``) that the table records. The deployment runtimes' runners
(onnxruntime, OpenVINO) live in :mod:`cream_det.deployment.latency`; this
module only takes them.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os.path as osp
import platform
import statistics
import time
from functools import partial
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from mmengine.utils import ProgressBar
from scipy.stats import kendalltau

from .errors import ConfigError, MissingFileError
from .models import CreamSuperNet
from .models.common import inner_args

# What a table file must hold to be read (see build_latency_table).
REQUIRED_KEYS = ('device', 'space', 'ops', 'depths', 'fixed_ms', 'layer_ms')
FIXED_PARTS = ('first', 'last', 'head')
EAGER = 'torch'  # the runtime of a table whose device records none


def measure_latency(fn: Callable[[], object], repeats: int = 50, warmup: int = 10,
                    device='cpu', timer: Optional[Callable[[], float]] = None) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup``
    calls: the median, because a shared machine's slow spells fall on a few
    calls. On CUDA the calls are timed with events (the kernels run
    asynchronously); on the CPU with ``timer`` (``time.perf_counter``), at
    the thread count the caller set. A given ``timer`` (a fake clock in
    tests) replaces the events too."""
    if repeats < 1 or warmup < 0:
        raise ConfigError(f'repeats={repeats}, warmup={warmup}: expected repeats >= 1 and '
                          'warmup >= 0')
    cuda = torch.device(device).type == 'cuda'
    events = cuda and timer is None
    timer = timer or time.perf_counter
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
    times = []
    for _ in range(repeats):
        if events:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            start = timer()
            fn()
            if cuda:
                torch.cuda.synchronize(device)
            times.append(timer() - start)
    return statistics.median(times)


def timed_in_turns(runs: dict, rounds: int,
                   before: Optional[Callable[[int], None]] = None) -> dict:
    """Median seconds of one call of each of ``runs`` (name: function),
    timed as :func:`rounds_in_turns` times them."""
    return {name: statistics.median(t) for name, t in rounds_in_turns(runs, rounds,
                                                                      before).items()}


def rounds_in_turns(runs: dict, rounds: int,
                    before: Optional[Callable[[int], None]] = None) -> dict:
    """Seconds of each call of each of ``runs`` (name: function), a list of
    ``rounds``. The calls take turns, ``rounds`` times after a warm-up
    round, so that a slow spell of a shared machine falls on all of them
    alike; ``before(round)`` runs, untimed, before each call."""
    times = {name: [] for name in runs}
    for round_ in range(rounds + 1):  # the first round warms up
        for name, run in runs.items():
            if before is not None:
                before(round_)
            start = time.perf_counter()
            run()
            if round_:
                times[name].append(time.perf_counter() - start)
    return times


def latency_rounds(calls: Sequence[Callable[[], object]], rounds: int = 3, repeats: int = 10,
                   warmup: int = 10, device='cpu') -> list:
    """Milliseconds of each of ``calls``, one per round: in turns, ``rounds``
    times the median of ``repeats`` calls after ``warmup`` calls
    (:func:`measure_latency`), so that a slow spell of a shared machine falls
    on all alike. (A call's first runs after another's are slow: its weights
    are out of the caches; the warm-up takes them.)"""
    times = [[] for _ in calls]
    for _ in range(rounds):
        for call, call_times in zip(calls, times):
            call_times.append(measure_latency(call, repeats, warmup, device) * 1e3)
    return times


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def pin_allocator() -> bool:
    """Fix glibc's malloc thresholds for the rest of the process, so that a
    network's time is its steady state whatever ran before it.

    By default glibc moves its mmap and trim thresholds as memory is freed,
    and a network run after others may keep returning its large activations
    to the system and faulting them back in on every call: measured here,
    whole children with expansion-6 blocks took 27-30 ms timed in turns with
    others and 22-24 ms timed alone (a 1.44 against a 1.19 ratio to their
    table sums), and the error of the table's prediction came out of that.
    Pinned, both are 22-24 ms. (torch's CPU allocator caches nothing; a
    deployment that runs one network alone sees the steady state.) Returns
    whether it could: False off glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c'))
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
                    and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError, TypeError):
        return False


def cpu_model() -> str:
    """The CPU's marketing name, as /proc/cpuinfo gives it."""
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def device_info(device) -> dict:
    """What a latency depends on besides the network: recorded in a table."""
    device = torch.device(device)
    info = dict(type=device.type, cpu=cpu_model(), threads=torch.get_num_threads(),
                torch=torch.__version__)
    if device.type == 'cuda':
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    return info


class ChildPart(torch.nn.Module):
    """A fixed part of a child as a module of its own, so that a runner can
    export it as it exports a block: ``first`` (the stem and the first
    block) or ``head``."""

    def __init__(self, child: torch.nn.Module, part: str):
        super().__init__()
        self.child, self.part = child, part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.part == 'first':
            return self.child.blocks[0](self.child.forward_stem(x))
        return self.child.forward_head(x)


def build_latency_table(supernet: CreamSuperNet, device='cpu', batch: int = 1,
                        shape: Optional[Sequence[int]] = None, threads: Optional[int] = None,
                        repeats: int = 50, warmup: int = 10, dtype: torch.dtype = torch.float32,
                        rounds: int = 3, progress: bool = True,
                        timer: Optional[Callable[[], float]] = None,
                        runner: Optional[Callable] = None) -> dict:
    """Time every candidate of every searchable layer of ``supernet`` on
    ``device``, and its fixed parts: the stem and first block (``first``),
    the last block (``last``) and the head (``head``; a detection backbone
    stops before it). ``shape`` is the input's (H, W), by default the
    supernet's resolution; ``threads`` sets torch's CPU threads while timing.
    ``runner`` (module docstring) runs each part in a deployment runtime,
    at its own thread count, instead of PyTorch.

    Every part is timed once a round, in turns, and an entry is the median
    of its ``rounds``: a shared machine's slow spell of a few seconds then
    inflates no block alone (timed in one pass, the fastest path of the
    (0, 600) space at 224 came out between 15.2 and 18.8 ms, build to build).

    Returns a JSON-ready dict: the device (:func:`device_info`), what was
    timed, ``fixed_ms`` (``first``, ``last``, ``head``) and
    ``layer_ms[stage][layer][op]`` in milliseconds, and the input shape
    each block saw."""
    height, width = shape or (supernet.resolution, supernet.resolution)
    if batch < 1 or rounds < 1:
        raise ConfigError(f'batch={batch}, rounds={rounds}: expected at least 1 of each')
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f'device={device!r}: this machine has no CUDA GPU')
    num_layers, num_ops = sum(supernet.depths), len(supernet.space.ops)
    allocator = 'glibc, thresholds pinned' if pin_allocator() else 'default'
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    info = device_info(device)
    if runner is not None:
        if torch.device(device).type != 'cpu':
            raise ConfigError(f'device={device!r}: the deployment runtimes run on the CPU')
        info.update(runner.info)
    run = runner or (lambda block, x: partial(block, x))
    try:
        with torch.no_grad():
            first_input = torch.randn(batch, 3, height, width, device=device, dtype=dtype)
            children = [supernet.export_child(supernet.split_path([op] * num_layers))
                        .to(device=device, dtype=dtype).eval() for op in range(num_ops)]
            child = children[0]
            shapes = _input_shapes(child, first_input)  # every op of a layer sees the same
            # (where its time goes, the part, its input)
            parts = [(('first',), ChildPart(child, 'first'), first_input),
                     (('last',), child.blocks[-1], _like(first_input, shapes['last'])),
                     (('head',), ChildPart(child, 'head'), _like(first_input, shapes['head']))]
            for s, stage_shapes in enumerate(shapes['layers']):
                for layer, layer_shape in enumerate(stage_shapes):
                    x = _like(first_input, layer_shape)
                    parts += [((s, layer, op), c.blocks[1 + s][layer], x)
                              for op, c in enumerate(children)]
            calls = [(key, run(block, x)) for key, block, x in parts]
            bar = ProgressBar(rounds * len(parts)) if progress else None
            times = {key: [] for key, _ in calls}
            for _ in range(rounds):
                for key, call in calls:
                    times[key].append(measure_latency(call, repeats, warmup, device, timer) * 1e3)
                    if bar is not None:
                        bar.update()
    finally:
        torch.set_num_threads(previous_threads)
    if progress:
        bar.file.write('\n')
    ms = {key: statistics.median(t) for key, t in times.items()}
    layer_ms = [[[ms[(s, layer, op)] for op in range(num_ops)] for layer in range(depth)]
                for s, depth in enumerate(supernet.depths)]
    return dict(device=info, dtype=str(dtype).replace('torch.', ''), batch=batch,
                shape=[height, width], repeats=repeats, warmup=warmup, rounds=rounds,
                space=supernet.space.name, ops=list(supernet.space.ops),
                depths=list(supernet.depths), resolution=supernet.resolution,
                allocator=allocator, input_shapes=shapes,
                fixed_ms=dict(first=ms[('first',)], last=ms[('last',)], head=ms[('head',)]),
                layer_ms=layer_ms, correction=None)


def search_supernet(cfg) -> CreamSuperNet:
    """The supernet of a search config (its ``model.supernet``)."""
    supernet = cfg.get('model', {}).get('supernet')
    if supernet is None:
        raise ConfigError('the config has no model.supernet: give a search config, e.g. '
                          'configs/cream/cream-search_0-600_8xb128_in1k.py')
    return CreamSuperNet(**inner_args(supernet, 'CreamSuperNet', 'the search'))


def _input_shapes(child: torch.nn.Module, x: torch.Tensor) -> dict:
    """The shape of what each block of ``child`` receives, from one forward."""
    shapes = dict(first=list(x.shape), layers=[])
    x = child.blocks[0](child.forward_stem(x))
    for stage in child.blocks[1:-1]:
        shapes['layers'].append([])
        for block in stage:
            shapes['layers'][-1].append(list(x.shape))
            x = block(x)
    shapes['last'] = list(x.shape)
    shapes['head'] = list(child.blocks[-1](x).shape)
    return shapes


def _like(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    return torch.randn(*shape, device=x.device, dtype=x.dtype)


class LatencyTable:
    """Milliseconds per (stage, layer, op) of a supernet, plus its fixed
    parts, on one device: ``latency_ms(path)`` is a look-up and a sum, with
    the table's correction (module docstring) applied."""

    def __init__(self, data: dict, source: str = 'the latency table'):
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise ConfigError(f'{source}: not a latency table of '
                              f'tools/analysis_tools/latency_table.py (no {", ".join(missing)})')
        self.data, self.source = data, source
        if [len(stage) for stage in data['layer_ms']] != list(data['depths']) or any(
                len(ops) != len(data['ops']) for stage in data['layer_ms'] for ops in stage):
            raise ConfigError(f'{source}: its layer_ms do not have the layout of depths '
                              f'{data["depths"]} and ops {data["ops"]}')
        if set(data['fixed_ms']) != set(FIXED_PARTS):
            raise ConfigError(f'{source}: its fixed_ms are {sorted(data["fixed_ms"])}, not '
                              f'{list(FIXED_PARTS)}: a table of an older version; measure it '
                              'again with tools/analysis_tools/latency_table.py')

    @classmethod
    def load(cls, path: str) -> 'LatencyTable':
        if not osp.isfile(path):
            raise MissingFileError(f'latency table {path} does not exist (make one with '
                                   'tools/analysis_tools/latency_table.py)')
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as err:
                raise ConfigError(f'latency table {path}: not JSON ({err})') from None
        return cls.from_dict(data, f'latency table {path}')

    @classmethod
    def from_dict(cls, data: dict, source: str = 'the latency table') -> 'LatencyTable':
        if not isinstance(data, dict):
            raise ConfigError(f'{source}: expected a JSON object, got {type(data).__name__}')
        return cls(data, source)

    def to_dict(self) -> dict:
        return self.data

    def save(self, path: str) -> None:
        with open(path, 'w') as f:
            json.dump(self.data, f, indent=1)

    @property
    def device(self) -> str:
        """The device in words, e.g. 'NVIDIA H200' or 'AMD EPYC (2 threads)'."""
        info = self.data['device']
        if info.get('type') == 'cuda':
            return info['gpu']
        threads = info['threads']
        runtime = '' if self.runtime == EAGER else f', {self.runtime} {info["runtime_version"]}'
        return f'{info["cpu"]} ({threads} thread{"s" if threads != 1 else ""}{runtime})'

    @property
    def runtime(self) -> str:
        """Where the table's parts ran: 'torch' (eager), or a deployment
        runtime ('onnxruntime', 'openvino')."""
        return self.data['device'].get('runtime', EAGER)

    @property
    def correction(self) -> tuple[float, float]:
        """``(a, b)``: a path's latency is ``a * sum of its blocks + b`` ms."""
        stored = self.data.get('correction')
        return (1., 0.) if stored is None else (stored['a'], stored['b'])

    def set_correction(self, a: float, b: float, **record) -> None:
        """Store a fitted correction, with ``record`` saying how it was fitted."""
        self.data['correction'] = dict(a=float(a), b=float(b), **record)

    def parts_ms(self, path: Sequence[Sequence[int]]) -> float:
        """The plain sum: the fixed parts and the path's blocks."""
        fixed = self.data['fixed_ms']
        return fixed['first'] + self._layers_ms(path) + fixed['last'] + fixed['head']

    def latency_ms(self, path: Sequence[Sequence[int]]) -> float:
        """The predicted latency of a path, corrected."""
        a, b = self.correction
        return a * self.parts_ms(path) + b

    def backbone_ms(self, path: Sequence[Sequence[int]], out_indices: Sequence[int]) -> float:
        """The predicted latency of a detection backbone with this path and
        ``out_indices`` (0: the first block, then one per stage, then the
        last block): what runs up to its deepest output, no head, corrected
        as a whole network. The path may be shallower than the table's
        supernet (a published arch): each stage's first layers are priced."""
        deepest = max(out_indices)
        stages = [ops for s, ops in enumerate(path) if s + 1 <= deepest]
        fixed = self.data['fixed_ms']
        total = fixed['first'] + self._layers_ms(stages)
        if deepest > len(path):
            total += fixed['last']
        a, b = self.correction
        return a * total + b

    def _layers_ms(self, path: Sequence[Sequence[int]]) -> float:
        deeper = [s for s, (ops, depth) in enumerate(zip(path, self.data['depths']))
                  if len(ops) > depth]
        if deeper or len(path) > len(self.data['depths']):
            raise ConfigError(f'{self.source} prices depths up to {self.data["depths"]}; the '
                              f'path has {[len(ops) for ops in path]}')
        return sum(layer_ms[op] for stage_ms, ops in zip(self.data['layer_ms'], path)
                   for layer_ms, op in zip(stage_ms, ops))

    def latency_range_ms(self) -> tuple[float, float]:
        """Predicted latency of the fastest and the slowest path."""
        fastest = [[min(range(len(ops)), key=ops.__getitem__) for ops in stage]
                   for stage in self.data['layer_ms']]
        slowest = [[max(range(len(ops)), key=ops.__getitem__) for ops in stage]
                   for stage in self.data['layer_ms']]
        return tuple(sorted((self.latency_ms(fastest), self.latency_ms(slowest))))

    def runs_here(self) -> bool:
        """Whether this machine is the table's device (same CPU model, or same GPU)."""
        info = self.data['device']
        if info['type'] == 'cuda':
            return torch.cuda.is_available() and torch.cuda.get_device_name() == info['gpu']
        return cpu_model() == info['cpu']

    def time_networks(self, networks: Sequence[torch.nn.Module], rounds: int = 3,
                      repeats: int = 10, warmup: int = 10,
                      runner: Optional[Callable] = None) -> list[float]:
        """Milliseconds of each whole network, run as the table was measured
        (device, runtime, thread count, batch, input size, dtype): in turns,
        ``rounds`` times the median of ``repeats`` calls after ``warmup``
        calls, so that a slow spell of a shared machine falls on all alike; a
        network's latency is the median of its rounds. The allocator is
        pinned (:func:`pin_allocator`) as it was for the table. A table of a
        deployment runtime needs that runtime's ``runner``
        (:func:`cream_det.deployment.latency.table_runner`)."""
        self.check_runner(runner)
        if not self.runs_here():
            raise ConfigError(f'{self.source} was measured on {self.device}; this machine '
                              f'is not that device ({cpu_model()}'
                              f'{", no CUDA GPU" if not torch.cuda.is_available() else ""})')
        data = self.data
        device = 'cuda' if data['device']['type'] == 'cuda' else 'cpu'
        dtype = getattr(torch, data['dtype'])
        pin_allocator()
        networks = [net.to(device=device, dtype=dtype).eval() for net in networks]
        x = torch.randn(data['batch'], 3, *data['shape'], device=device, dtype=dtype)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(data['device']['threads'])
        try:
            with torch.no_grad():
                run = runner or (lambda net, x: partial(net, x))
                times = latency_rounds([run(net, x) for net in networks], rounds, repeats,
                                       warmup, device)
        finally:
            torch.set_num_threads(previous_threads)
        return [statistics.median(t) for t in times]

    def check_runner(self, runner: Optional[Callable]) -> None:
        """Refuse to time networks elsewhere than where the table's parts ran:
        another runtime, version or thread count."""
        info = self.data['device']
        if runner is None:
            if self.runtime != EAGER:
                raise ConfigError(f'{self.source} was measured in {self.runtime}: time its '
                                  'networks there (cream_det.deployment.latency.table_runner)')
            return
        wanted = dict(runtime=self.runtime, runtime_version=info.get('runtime_version'),
                      threads=info['threads'])
        given = {key: runner.info.get(key) for key in wanted}
        if given != wanted:
            raise ConfigError(f'{self.source} was measured in {self.runtime} '
                              f'{wanted["runtime_version"]} at {wanted["threads"]} threads; the '
                              f'networks would run in {given["runtime"]} '
                              f'{given["runtime_version"]} at {given["threads"]}')

    def check_matches(self, supernet: CreamSuperNet) -> None:
        """Refuse a table built for another space or depths: its entries
        would price other blocks."""
        data = self.data
        if (data['space'], list(data['ops'])) != (supernet.space.name, list(supernet.space.ops)):
            raise ConfigError(
                f'{self.source} was built for search space {data["space"]!r} (ops '
                f'{", ".join(data["ops"])}), but the supernet is of space '
                f'{supernet.space.name!r} (ops {", ".join(supernet.space.ops)}): build a '
                'table for it with tools/analysis_tools/latency_table.py')
        self.check_layout(supernet.depths, len(supernet.space.ops))

    def check_layout(self, depths: Sequence[int], num_ops: int) -> None:
        """Refuse a table of other depths or another number of ops."""
        if list(self.data['depths']) != list(depths) or len(self.data['ops']) != num_ops:
            raise ConfigError(
                f'{self.source} was built for a supernet of depths {self.data["depths"]} '
                f'with {len(self.data["ops"])} ops, but the supernet has depths '
                f'{list(depths)} with {num_ops} ops: build a table for it with '
                'tools/analysis_tools/latency_table.py')


FITS = ('scale', 'affine')


def prediction_errors(predicted: Sequence[float], measured: Sequence[float]) -> tuple:
    """MAPE (%) and the share (%) within +-10 %."""
    relative = [abs(p - m) / m for p, m in zip(predicted, measured)]
    return 100 * statistics.mean(relative), 100 * statistics.mean(r <= 0.1 for r in relative)


def fit_correction(sums: Sequence[float], measured: Sequence[float], kind: str) -> tuple:
    """``(a, b)`` of measured = a * sum + b. 'scale': b = 0 and a the median
    ratio (a block timed alone keeps its weights in the caches, so a sum of
    blocks is short of the whole network by a near-constant share);
    'affine': least squares (a fixed per-network overhead)."""
    if kind not in FITS:
        raise ConfigError(f'fit {kind!r}: expected one of {FITS}')
    if kind == 'scale':
        return float(statistics.median(m / s for s, m in zip(sums, measured))), 0.
    a, b = np.polyfit(sums, measured, 1)
    if a <= 0:
        raise ConfigError(f'the fit measured = {a:.3f} * sum + {b:.3f} has no positive slope: '
                          "the children's latencies do not follow the table; not stored")
    return float(a), float(b)


def leave_one_out(sums: Sequence[float], measured: Sequence[float], kind: str) -> list:
    """Each child predicted by a fit to the others: the error a fit makes on
    children it has not seen."""
    sums, measured = list(sums), list(measured)
    predicted = []
    for i in range(len(sums)):
        a, b = fit_correction(sums[:i] + sums[i + 1:], measured[:i] + measured[i + 1:], kind)
        predicted.append(float(a * sums[i] + b))
    return predicted


def benchmark_latency_table(cfg, table_file: str, children: int = 30, seed: int = 0,
                            rounds: int = 3, repeats: int = 10, warmup: int = 10,
                            fit: Optional[str] = None, log: Callable[[str], None] = print,
                            runner: Optional[Callable] = None) -> dict:
    """``tools/analysis_tools/benchmark_latency_table.py``: how well the table
    in ``table_file`` predicts whole networks. ``children`` seeded random
    children of the search config ``cfg``'s supernet, exported as they
    deploy, are timed whole (:meth:`LatencyTable.time_networks`) against the
    table's plain sum and its prediction; with ``fit`` ('scale' or 'affine')
    a correction fitted to them is stored in ``table_file``. ``log`` gets the
    report line by line (the table before a fit that fails); the figures are
    returned. A table of a deployment runtime times the children there, with
    ``runner`` (:meth:`LatencyTable.time_networks`)."""
    table = LatencyTable.load(table_file)
    supernet = search_supernet(cfg)
    table.check_matches(supernet)
    table.check_runner(runner)
    if children < 3:
        raise ConfigError(f'--children {children}: expected at least 3')
    generator = torch.Generator().manual_seed(seed)
    paths = [supernet.sample_path(generator) for _ in range(children)]
    measured = table.time_networks([supernet.export_child(p) for p in paths], rounds, repeats,
                                   warmup, runner)
    data = table.data
    sums = [table.parts_ms(p) for p in paths]
    predicted = [table.latency_ms(p) for p in paths]
    log(f'table: {table.device}, batch {data["batch"]}, {data["shape"][0]}x{data["shape"][1]}, '
        f'{data["dtype"]}, space {data["space"]} depths {data["depths"]}')
    log(f'{"child":>5} {"sum (ms)":>10} {"predicted":>10} {"measured":>10} {"error":>8}')
    for i, (s, p, m) in enumerate(zip(sums, predicted, measured)):
        log(f'{i:>5} {s:>10.3f} {p:>10.3f} {m:>10.3f} {100 * (p - m) / m:>+7.1f}%')
    a, b = table.correction
    plain, corrected = prediction_errors(sums, measured), prediction_errors(predicted, measured)
    tau = float(kendalltau(sums, measured)[0])
    log(f'{children} children (seed {seed}), median of {rounds} rounds of {repeats} calls each:')
    log(f'  plain sum: MAPE {plain[0]:.1f} %, {plain[1]:.0f} % within +-10 %')
    log(f'  prediction (a={a:.3f}, b={b:.3f} ms): MAPE {corrected[0]:.1f} %, '
        f'{corrected[1]:.0f} % within +-10 %; Kendall tau {tau:.2f}')
    result = dict(sums=sums, predicted=predicted, measured=measured, plain=plain,
                  corrected=corrected, kendall_tau=tau)
    if fit:
        a, b = fit_correction(sums, measured, fit)
        in_sample = prediction_errors([a * s + b for s in sums], measured)
        loo = prediction_errors(leave_one_out(sums, measured, fit), measured)
        table.set_correction(a, b, kind=fit, children=children, seed=seed, rounds=rounds,
                             repeats=repeats, warmup=warmup, mape_before=plain[0],
                             mape_in_sample=in_sample[0], mape_leave_one_out=loo[0])
        table.save(table_file)
        log(f'  fitted ({fit}) a={a:.3f}, b={b:.3f} ms: MAPE {in_sample[0]:.1f} % '
            f'in-sample ({in_sample[1]:.0f} % within +-10 %), {loo[0]:.1f} % leave-one-out '
            f'({loo[1]:.0f} %); stored in {table_file}')
        result['fit'] = dict(a=a, b=b, in_sample=in_sample, leave_one_out=loo)
    return result
