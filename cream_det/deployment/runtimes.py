"""One interface over the runtimes a deployed network runs in: onnxruntime
(its CPU execution provider) and OpenVINO (its CPU plugin).

``open_session(file, backend, threads)`` reads an ONNX file (or its bytes)
into a :class:`Session`: called with a dict of numpy inputs it returns the
outputs as a list, in the graph's order, whichever runtime runs it. The
thread count is set explicitly (a runtime's default takes every core, and
a latency is only comparable at a known count): onnxruntime's
``intra_op_num_threads`` with one inter-op thread and sequential execution,
OpenVINO's ``INFERENCE_NUM_THREADS`` with one stream. OpenVINO is also held
to float32 (``INFERENCE_PRECISION_HINT``): on CPUs with bf16 units its
default would compute in bf16, and its outputs would no longer equal
PyTorch's.

The runtimes are optional packages (pinned by ``tools/run.sh``), imported
here only when a session is opened; a missing one, an unknown backend name
and a file that is not a whole ONNX model are one-line errors.
"""
from __future__ import annotations

import importlib
import os
import os.path as osp
from typing import Sequence, Union

from ..errors import CheckpointError, ConfigError, MissingFileError, MissingPackageError

BACKENDS = ('onnxruntime', 'openvino')
# The package to import for a backend (the pip name is the same).
MODULES = dict(onnxruntime='onnxruntime', openvino='openvino', onnx='onnx')


def _import(name: str):
    try:
        return importlib.import_module(MODULES[name])
    except ImportError:
        raise MissingPackageError(
            f'{name} is not installed: pip install {name} (or bash tools/run.sh env, '
            'which installs the pinned version)') from None


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f'backend {backend!r}: expected one of {", ".join(BACKENDS)}')


def runtime_version(backend: str) -> str:
    """The installed version of ``backend``, e.g. '1.32.0'."""
    check_backend(backend)
    module = _import(backend)
    return module.__version__.split('-')[0]  # OpenVINO appends its build


class Session:
    """A network loaded in one runtime: ``session(inputs)`` runs it.

    ``inputs`` maps each of ``input_names`` to an array; the result is one
    array per name of ``output_names``. ``backend``, ``version`` and
    ``threads`` say where it runs, as a latency table records it."""

    backend: str

    def __init__(self, source: str, threads: int, input_names: Sequence[str],
                 output_names: Sequence[str]):
        self.source, self.threads = source, threads
        self.version = runtime_version(self.backend)
        self.input_names, self.output_names = list(input_names), list(output_names)

    def __call__(self, inputs: dict) -> list:
        if set(inputs) != set(self.input_names):
            raise ConfigError(f'{self.source} takes inputs {", ".join(self.input_names)}; '
                              f'given {", ".join(inputs) or "none"}')
        return self._run(inputs)

    def _run(self, inputs: dict) -> list:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.source}, {self.backend} {self.version}, '
                f'{self.threads} thread{"s" if self.threads != 1 else ""})')


class OnnxRuntimeSession(Session):
    backend = 'onnxruntime'

    def __init__(self, model: Union[str, bytes], source: str, threads: int):
        ort = _import('onnxruntime')
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: its graph-optimiser notes are noise here
        try:
            self.session = ort.InferenceSession(model, sess_options=options,
                                                providers=['CPUExecutionProvider'])
        except Exception as err:  # onnxruntime raises its own classes, not exported by name
            raise CheckpointError(f'{source}: onnxruntime cannot load it '
                                  f'({_first_line(err)})') from None
        super().__init__(source, self.session.get_session_options().intra_op_num_threads,
                         [i.name for i in self.session.get_inputs()],
                         [o.name for o in self.session.get_outputs()])

    def _run(self, inputs: dict) -> list:
        return self.session.run(None, inputs)


class OpenVinoSession(Session):
    backend = 'openvino'

    def __init__(self, model: Union[str, bytes], source: str, threads: int):
        ov = _import('openvino')
        core = ov.Core()
        try:
            network = core.read_model(model) if isinstance(model, str) else \
                core.read_model(model=model, weights=b'')
            self.compiled = core.compile_model(network, 'CPU', {
                'INFERENCE_NUM_THREADS': threads, 'NUM_STREAMS': 1,
                'INFERENCE_PRECISION_HINT': 'f32', 'PERFORMANCE_HINT': 'LATENCY'})
        except RuntimeError as err:
            raise CheckpointError(f'{source}: OpenVINO cannot load it '
                                  f'({_first_line(err)})') from None
        self.request = self.compiled.create_infer_request()
        super().__init__(source, int(self.compiled.get_property('INFERENCE_NUM_THREADS')),
                         [p.get_any_name() for p in self.compiled.inputs],
                         [p.get_any_name() for p in self.compiled.outputs])

    def _run(self, inputs: dict) -> list:
        self.request.infer(inputs)
        return [self.request.get_output_tensor(i).data.copy()
                for i in range(len(self.output_names))]


SESSIONS = dict(onnxruntime=OnnxRuntimeSession, openvino=OpenVinoSession)


def open_session(file_or_bytes: Union[str, os.PathLike, bytes], backend: str = 'onnxruntime',
                 threads: int = 1) -> Session:
    """``file_or_bytes`` (an ONNX file, or a serialised model) loaded in
    ``backend`` (one of :data:`BACKENDS`) on the CPU with ``threads``
    threads. The file is checked as a whole ONNX model first (onnx's
    checker), so that a truncated or foreign file is named as such rather
    than as the runtime's parse error."""
    check_backend(backend)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f'threads={threads!r}: expected a whole number >= 1')
    if isinstance(file_or_bytes, (bytes, bytearray)):
        model, source = bytes(file_or_bytes), 'the ONNX model'
    else:
        model = source = os.fspath(file_or_bytes)
        if not osp.isfile(model):
            raise MissingFileError(f'ONNX file {model} does not exist')
        source = f'ONNX file {model}'
    check_onnx(model, source)
    return SESSIONS[backend](model, source, threads)


def check_onnx(model: Union[str, bytes], source: str) -> None:
    """Refuse what is not a whole ONNX model: a file cut short, or one of
    another format (a checkpoint, an arch file) given by mistake."""
    onnx = _import('onnx')
    try:
        proto = onnx.load_model(model, load_external_data=False) if isinstance(model, str) \
            else onnx.load_model_from_string(model)
    except Exception:  # protobuf's DecodeError, or onnx's wrapper of it
        raise CheckpointError(f'{source} is not an ONNX model: its bytes do not parse as one '
                              '(a file cut short, or of another format)') from None
    if not proto.graph.node or not proto.opset_import:
        raise CheckpointError(f'{source} is not an ONNX model: it parses, but holds no graph '
                              '(a file of another format?)')
    try:
        # Every node's inputs defined, every op known: a file cut at a field
        # boundary parses, but is not whole. A path lets the checker find
        # weights saved beside the file (torch's dynamo exporter does that).
        onnx.checker.check_model(model if isinstance(model, str) else proto)
    except onnx.checker.ValidationError as err:
        raise CheckpointError(f'{source} is not a whole ONNX model ({_first_line(err)}): '
                              'a file cut short?') from None


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(err).__name__

