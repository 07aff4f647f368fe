"""Whether mmcv's compiled ops can run where a detector runs, decided in one
place for the set-up (``tools/run.sh``) and for the tools at run time
(:mod:`cream_det.cli`).

mmdet's RetinaNet and FCOS call mmcv's compiled ops on the detector's
device: ``FocalLoss`` takes ``mmcv.ops.sigmoid_focal_loss`` on a GPU, and
every dense head's post-processing runs ``mmcv.ops.batched_nms``. mmcv 2.1.0
has no wheel for torch 2.14; built from source it compiles its CUDA ops only
with ``nvcc``, which pip's torch wheels do not bring. A GPU machine would then
get CPU ops silently, and a detector would fail at its first loss.

``tools/run.sh`` runs this file as a script with the base environment's
python, before cream_det is installed (hence the standard library alone at
module level; torch and mmcv are imported where asked)::

    python -I cream_det/mmcv_ops.py setup [--ops auto|cpu] --toolkit-dir DIR

It prints ``cpu``, ``cuda`` or ``cuda CUDA_HOME`` (the compiler it installed
from PyPI into DIR) and a line saying why on stderr, or, where no CUDA ops
can be built for a GPU it sees, the reason and the command to use, and
exits 1.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import subprocess
import sys
from typing import NamedTuple, Optional

SETUP = 'bash tools/run.sh env'
CPU_ONLY = 'CREAM_DET_MMCV_OPS=cpu'  # tools/run.sh passes it on as --ops cpu
REBUILD = 'CREAM_DET_REBUILD=1'  # tools/run.sh builds the environment anew
GUIDE = 'docs/en/user_guides/gpu.md'
# NVIDIA's CUDA compiler on PyPI, one wheel a part. Since CUDA 13 they all
# install into one tree, site-packages/nvidia/cu<major>, which then serves as
# CUDA_HOME (CUDA 12's wheels install a folder each: no CUDA_HOME to give).
# Each is pinned to the series: nvcc's wheel asks for nvvm, crt and the
# runtime unpinned, and pip took 13.5 of them beside nvcc 13.0 (seen here).
# cccl holds <nv/target>, which cuda_fp16.h includes.
TOOLKIT_WHEELS = ('nvidia-cuda-nvcc', 'nvidia-cuda-cccl', 'nvidia-nvvm', 'nvidia-cuda-crt',
                  'nvidia-cuda-runtime')
FIRST_SINGLE_TREE_CUDA = 13


class Findings(NamedTuple):
    """What the set-up's decision depends on."""
    torch_version: str
    torch_cuda: Optional[str]  # torch.version.cuda: None for a CPU build
    gpu: bool  # torch.cuda.is_available()
    nvcc: Optional[str]  # the nvcc torch's extension builder would use
    nvcc_release: Optional[str]  # what it says: '13.0'


class Decision(NamedTuple):
    ops: Optional[str]  # 'cpu' or 'cuda'; None: stop
    message: str  # one line for the user
    toolkit: tuple = ()  # pip requirements of a compiler to install first


def _major(version: str) -> int:
    return int(version.split('.')[0])


def registry_toolkit(cuda: str) -> tuple:
    """The pip requirements of CUDA ``cuda``'s compiler, e.g.
    ``nvidia-cuda-nvcc==13.0.*``."""
    return tuple(f'{wheel}=={cuda}.*' for wheel in TOOLKIT_WHEELS)


def setup_decision(found: Findings, cpu_only: bool = False) -> Decision:
    """Which mmcv ops the set-up builds, from what it found.

    CUDA ops where torch is a CUDA build that sees a GPU, with an nvcc of
    torch's CUDA major version (torch's extension builder refuses another
    major and warns on another minor); where there is none, CUDA 13 and
    later take NVIDIA's compiler wheels from PyPI, and older CUDA stops with
    the commands to use. CPU ops on a machine without a GPU, or where asked
    (``cpu_only``)."""
    torch_name = f'torch {found.torch_version}'
    if cpu_only:
        return Decision('cpu', f'mmcv with CPU ops only, as asked ({CPU_ONLY}): detectors '
                        'then run on the CPU only')
    if found.torch_cuda is None:
        return Decision('cpu', f'{torch_name} is a CPU build: mmcv with CPU ops')
    if not found.gpu:
        return Decision('cpu', f'{torch_name} is a CUDA {found.torch_cuda} build but sees no GPU: '
                        'mmcv with CPU ops')
    if found.nvcc and found.nvcc_release \
            and _major(found.nvcc_release) == _major(found.torch_cuda):
        return Decision('cuda', f'{torch_name} (CUDA {found.torch_cuda}) sees a GPU: mmcv with '
                        f'CUDA ops, compiled by nvcc {found.nvcc_release} ({found.nvcc})')
    what = 'no nvcc was found (CUDA_HOME, PATH, /usr/local/cuda)' if not found.nvcc else \
        f'{found.nvcc} is CUDA {found.nvcc_release or "of an unknown release"}'
    situation = f'{torch_name} is a CUDA {found.torch_cuda} build and sees a GPU, but {what}'
    if _major(found.torch_cuda) >= FIRST_SINGLE_TREE_CUDA:
        toolkit = registry_toolkit(found.torch_cuda)
        return Decision('cuda', f'{situation}: installing CUDA {found.torch_cuda}\'s compiler '
                        f'from PyPI ({toolkit[0]}) to build mmcv\'s CUDA ops', toolkit)
    return Decision(None, f"{situation}, and without one mmcv gets no CUDA ops, which RetinaNet "
                    "and FCOS run on the GPU: install CUDA "
                    f"{found.torch_cuda}'s nvcc and run `CUDA_HOME=/path/to/cuda-"
                    f"{found.torch_cuda} {SETUP}`, or `{CPU_ONLY} {SETUP}` for CPU ops only")


def nvcc_release(nvcc: str) -> Optional[str]:
    """'13.0' from ``nvcc --version``'s 'Cuda compilation tools, release 13.0,
    V13.0.88'; None where it does not run or says something else."""
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'release (\d+\.\d+)', out)
    return match.group(1) if match else None


def find_setup() -> Findings:
    """This machine's findings. nvcc is looked for as torch's extension
    builder, which builds mmcv, looks for it (``CUDA_HOME``)."""
    import logging

    import torch
    # (it warns, on importing, that it found no CUDA runtime where there is no GPU)
    logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)
    from torch.utils.cpp_extension import CUDA_HOME
    nvcc = osp.join(CUDA_HOME, 'bin', 'nvcc') if CUDA_HOME else None
    if nvcc is not None and not osp.isfile(nvcc):
        nvcc = None
    return Findings(torch.__version__, torch.version.cuda, torch.cuda.is_available(), nvcc,
                    nvcc_release(nvcc) if nvcc else None)


def toolkit_home(target: str, cuda: str) -> str:
    """Where the compiler wheels of CUDA ``cuda`` installed into ``target``
    put their tree (CUDA_HOME)."""
    return osp.join(target, 'nvidia', f'cu{_major(cuda)}')


def link_cudart(cuda_home: str, cuda: str) -> None:
    """The runtime wheel brings libcudart.so.<major> but not the libcudart.so
    that torch's extension builder links (``-lcudart``): add the link."""
    lib = osp.join(cuda_home, 'lib')
    link = osp.join(lib, 'libcudart.so')
    if not osp.lexists(link):
        os.symlink(f'libcudart.so.{_major(cuda)}', link)


def install_toolkit(requirements: tuple, target: str, cuda: str) -> str:
    """Install NVIDIA's compiler wheels into ``target`` (once: a tree whose
    nvcc says ``cuda`` is reused) and return the CUDA_HOME they make."""
    home = toolkit_home(target, cuda)
    nvcc = osp.join(home, 'bin', 'nvcc')
    if not (osp.isfile(nvcc) and nvcc_release(nvcc) == cuda):
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-compile',
                        '--upgrade', '--target', target, *requirements], check=True,
                       stdout=sys.stderr)
        if nvcc_release(nvcc) != cuda:
            raise SystemExit(f'[cream_det] {" ".join(requirements)} installed into {target}, '
                             f'but {nvcc} does not say release {cuda}')
    link_cudart(home, cuda)
    return home


def mmcv_cuda_ops() -> bool:
    """Whether the installed mmcv was compiled with its CUDA ops, by mmcv's
    own answer (``get_compiling_cuda_version``, 'not available' without
    them, as mmcv's collect_env reports it); False where mmcv has no
    compiled ops at all."""
    try:
        from mmcv.ops import get_compiling_cuda_version
    except ImportError:
        return False
    return get_compiling_cuda_version() != 'not available'


def missing_cuda_ops(device: str, runs_mmcv_ops: bool, has_cuda_ops: bool) -> Optional[str]:
    """The one line that stops a run before its first iteration: a model
    that runs mmcv's ops (``runs_mmcv_ops``, a detector) on a CUDA
    ``device`` with an mmcv that has no CUDA ops (``has_cuda_ops``); None
    where nothing is missing."""
    if device != 'cuda' or not runs_mmcv_ops or has_cuda_ops:
        return None
    return ("mmcv here was built without its CUDA ops (no nvcc at its set-up), and the "
            "detector runs mmcv's focal loss and nms on the GPU: build them on this GPU machine "
            f"with `{REBUILD} {SETUP}` (see {GUIDE})")


def _setup(args: argparse.Namespace) -> int:
    decision = setup_decision(find_setup(), args.ops == 'cpu')
    print(f'[cream_det] {decision.message}', file=sys.stderr)
    if decision.ops is None:
        return 1
    if not decision.toolkit:
        print(decision.ops)
        return 0
    import torch
    print(f'cuda {install_toolkit(decision.toolkit, args.toolkit_dir, torch.version.cuda)}')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='mmcv ops decisions for tools/run.sh')
    commands = parser.add_subparsers(dest='command', required=True)
    setup = commands.add_parser('setup', help="print which mmcv ops to build: 'cpu', 'cuda' "
                                "or 'cuda CUDA_HOME'")
    setup.add_argument('--ops', choices=('auto', 'cpu'), default='auto',
                       help="'cpu': CPU ops whatever is found")
    setup.add_argument('--toolkit-dir', required=True,
                       help="where NVIDIA's compiler wheels go if they are needed")
    return _setup(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
