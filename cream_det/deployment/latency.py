"""Latency where a network will run: the parts of a latency table, and
whole networks, exported to ONNX and timed in a deployment runtime.

:class:`RuntimeRunner` is the runner that :mod:`cream_det.latency` takes
(its module docstring): each module it is given is exported with torch's
ONNX exporter at the input it will see, as a deployed network is, loaded in a
:func:`~cream_det.deployment.runtimes.open_session` at the runner's thread
count, and run there. A table built with it
(``tools/analysis_tools/latency_table.py --backend onnxruntime``) is a
:class:`~cream_det.latency.LatencyTable` like any other, in the same file
format, and records the runtime, its version and its threads: a search's
``constraint=dict(latency_ms=..., table=...)`` and ``select_arch.py
--latency-ms`` read it unchanged.
"""
from __future__ import annotations

import io
import warnings
from functools import partial
from typing import Callable, Optional

import torch

from ..errors import ConfigError
from ..latency import EAGER, LatencyTable
from .export import DEFAULT_OPSET, INPUT_NAME
from .runtimes import BACKENDS, check_backend, open_session, runtime_version

# torch eager, then the deployment runtimes: what --backend(s) accept.
ALL_BACKENDS = (EAGER, *BACKENDS)


def onnx_bytes(module: torch.nn.Module, x: torch.Tensor) -> bytes:
    """``module`` in eval mode exported for input ``x`` (its shape fixed), as
    a serialised ONNX model: by the exporter and at the opset that
    :func:`~cream_det.deployment.export.export_onnx` deploys with, so that a
    part is timed as the graph it becomes in a deployed network."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # the legacy exporter's deprecation, once a part
        torch.onnx.export(module.eval(), (x,), buffer, dynamo=False, opset_version=DEFAULT_OPSET,
                          input_names=[INPUT_NAME])
    return buffer.getvalue()


class RuntimeRunner:
    """``runner(module, x)``: a call that runs ``module`` on ``x`` once in
    ``backend`` at ``threads`` threads (and returns its outputs); ``info``
    is what a latency table records of it."""

    def __init__(self, backend: str, threads: int = 1):
        check_backend(backend)
        self.backend, self.threads = backend, threads
        self.info = dict(runtime=backend, runtime_version=runtime_version(backend),
                         threads=threads)

    def __call__(self, module: torch.nn.Module, x: torch.Tensor) -> Callable[[], list]:
        session = open_session(onnx_bytes(module, x), self.backend, self.threads)
        return partial(session, {session.input_names[0]: x.detach().cpu().numpy()})


def runner_for(backend: str, threads: Optional[int] = None) -> Optional[RuntimeRunner]:
    """The runner of ``backend`` (one of :data:`ALL_BACKENDS`); None for
    torch eager, which the latency code runs itself. A runtime runs at
    ``threads`` threads, 1 if not given: set, not the runtime's default of
    every core."""
    if backend == EAGER:
        return None
    if backend not in ALL_BACKENDS:
        raise ConfigError(f'backend {backend!r}: expected one of {", ".join(ALL_BACKENDS)}')
    return RuntimeRunner(backend, 1 if threads is None else threads)


def table_runner(table: LatencyTable, backend: Optional[str] = None) -> Optional[RuntimeRunner]:
    """The runner that times networks as ``table`` was measured: its
    runtime at its thread count. ``backend``, if given, must be that
    runtime."""
    if backend is not None and backend != table.runtime:
        raise ConfigError(f'{table.source} was measured in {table.runtime}, not {backend}: '
                          f'build one with latency_table.py --backend {backend}')
    return runner_for(table.runtime, table.data['device']['threads'])
