"""mmcv's CUDA ops (cream_det.mmcv_ops): the set-up's decision from what it
finds, given and as found on this machine, and the stop before a detector's
first iteration on a GPU with an mmcv that has none."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from cream_det.cli import check_cuda_ops
from cream_det.detection.cost import build_detector
from cream_det.errors import SetupError
from cream_det.mmcv_ops import (Findings, find_setup, link_cudart, missing_cuda_ops,
                                mmcv_cuda_ops, nvcc_release, registry_toolkit, setup_decision,
                                toolkit_home)

ROOT = osp.join(osp.dirname(__file__), '..', '..')
RETINANET = osp.join(ROOT, 'configs', 'retinanet', 'retinanet_cream-searched_fpn_fashion-det.py')
RETINANET_COCO = osp.join(ROOT, 'configs', 'retinanet', 'retinanet_cream-287_fpn_1x_coco.py')
FCOS_COCO = osp.join(ROOT, 'configs', 'fcos', 'fcos_cream-287_fpn_gn-head_1x_coco.py')
CLASSIFIER = osp.join(ROOT, 'configs', 'cream', 'cream_fashion-mnist.py')
NVCC = '/usr/local/cuda-13.0/bin/nvcc'
STOP = ("mmcv here was built without its CUDA ops (no nvcc at its set-up), and the detector "
        "runs mmcv's focal loss and nms on the GPU: build them on this GPU machine with "
        "`CREAM_DET_REBUILD=1 bash tools/run.sh env` (see docs/en/user_guides/gpu.md)")


def _found(torch_cuda='13.0', gpu=True, nvcc=NVCC, release='13.0'):
    return Findings('2.14.1', torch_cuda, gpu, nvcc, release if nvcc else None)


def test_a_gpu_and_a_matching_nvcc_build_the_cuda_ops():
    decision = setup_decision(_found())
    assert decision.ops == 'cuda' and decision.toolkit == ()
    assert decision.message == ('torch 2.14.1 (CUDA 13.0) sees a GPU: mmcv with CUDA ops, '
                                f'compiled by nvcc 13.0 ({NVCC})')
    # another minor release: torch's extension builder warns, and builds
    assert setup_decision(_found(release='13.2')).ops == 'cuda'


@pytest.mark.parametrize('nvcc, release, what', [
    (None, None, 'no nvcc was found (CUDA_HOME, PATH, /usr/local/cuda)'),
    ('/usr/local/cuda-12.4/bin/nvcc', '12.4', '/usr/local/cuda-12.4/bin/nvcc is CUDA 12.4')])
def test_a_gpu_without_a_matching_nvcc_takes_the_compiler_from_pypi(nvcc, release, what):
    decision = setup_decision(_found(nvcc=nvcc, release=release))
    assert decision.ops == 'cuda'
    assert decision.toolkit == ('nvidia-cuda-nvcc==13.0.*', 'nvidia-cuda-cccl==13.0.*',
                                'nvidia-nvvm==13.0.*', 'nvidia-cuda-crt==13.0.*',
                                'nvidia-cuda-runtime==13.0.*')
    assert decision.toolkit == registry_toolkit('13.0')
    assert decision.message == (f'torch 2.14.1 is a CUDA 13.0 build and sees a GPU, but {what}: '
                                "installing CUDA 13.0's compiler from PyPI "
                                "(nvidia-cuda-nvcc==13.0.*) to build mmcv's CUDA ops")


def test_cuda_12_without_nvcc_stops_with_the_commands():
    decision = setup_decision(_found(torch_cuda='12.8', nvcc=None))
    assert decision.ops is None and decision.toolkit == ()
    assert decision.message == (
        'torch 2.14.1 is a CUDA 12.8 build and sees a GPU, but no nvcc was found (CUDA_HOME, '
        'PATH, /usr/local/cuda), and without one mmcv gets no CUDA ops, which RetinaNet and '
        "FCOS run on the GPU: install CUDA 12.8's nvcc and run "
        '`CUDA_HOME=/path/to/cuda-12.8 bash tools/run.sh env`, or '
        '`CREAM_DET_MMCV_OPS=cpu bash tools/run.sh env` for CPU ops only')


def test_cpu_ops_without_a_gpu_a_cuda_torch_or_where_asked():
    # this machine: a CUDA 13.0 torch, nvcc 13.0, no GPU
    no_gpu = setup_decision(_found(gpu=False))
    assert no_gpu == ('cpu', 'torch 2.14.1 is a CUDA 13.0 build but sees no GPU: mmcv with CPU '
                      'ops', ())
    assert setup_decision(_found(torch_cuda=None, nvcc=None)) == (
        'cpu', 'torch 2.14.1 is a CPU build: mmcv with CPU ops', ())
    asked = setup_decision(_found(nvcc=None), cpu_only=True)
    assert asked.ops == 'cpu' and 'CREAM_DET_MMCV_OPS=cpu' in asked.message


def test_this_machines_findings_and_its_mmcv_agree_with_the_decision():
    found = find_setup()
    assert found[:3] == (torch.__version__, torch.version.cuda, torch.cuda.is_available())
    if shutil.which('nvcc') and not os.environ.get('CUDA_HOME'):
        assert found.nvcc is not None
    if found.nvcc is not None:
        assert found.nvcc_release == nvcc_release(found.nvcc)
    # the environment was set up by this decision: its mmcv has CUDA ops if and only if
    # the decision on this machine is to build them
    assert mmcv_cuda_ops() == (setup_decision(found).ops == 'cuda')


def test_nvcc_release_reads_nvcc_and_nothing_else(tmp_path):
    if shutil.which('nvcc'):
        release = nvcc_release(shutil.which('nvcc'))
        assert release is not None and release.replace('.', '').isdigit()
    assert nvcc_release(str(tmp_path / 'absent')) is None
    assert nvcc_release(sys.executable) is None  # runs, and is no nvcc


def test_the_pypi_compiler_tree_gets_the_runtime_link_it_lacks(tmp_path):
    home = toolkit_home(str(tmp_path), '13.0')
    assert home == osp.join(str(tmp_path), 'nvidia', 'cu13')
    os.makedirs(osp.join(home, 'lib'))
    open(osp.join(home, 'lib', 'libcudart.so.13'), 'w').close()
    link_cudart(home, '13.0')
    link_cudart(home, '13.0')  # once only
    assert os.readlink(osp.join(home, 'lib', 'libcudart.so')) == 'libcudart.so.13'
    assert osp.isfile(osp.join(home, 'lib', 'libcudart.so'))


def test_the_runtime_stop_needs_all_three():
    assert missing_cuda_ops('cuda', True, False) == STOP
    assert missing_cuda_ops('cpu', True, False) is None
    assert missing_cuda_ops('cuda', False, False) is None
    assert missing_cuda_ops('cuda', True, True) is None


@pytest.mark.parametrize('config', [RETINANET, RETINANET_COCO, FCOS_COCO])
def test_a_detector_on_a_gpu_without_cuda_ops_stops_with_one_line(config):
    model = Config.fromfile(config).model
    if model.backbone.arch is None:  # the embedded one's comes with its checkpoint
        model.backbone.arch = 'cream-14'
    detector = build_detector(model)
    with pytest.raises(SetupError) as err:
        check_cuda_ops(detector, device='cuda', has_cuda_ops=False)
    assert str(err.value) == STOP
    check_cuda_ops(detector, device='cuda', has_cuda_ops=True)
    check_cuda_ops(detector, device='cpu', has_cuda_ops=False)
    check_cuda_ops(detector)  # as found here


def test_a_classifier_runs_no_mmcv_ops():
    classifier = MODELS.build(Config.fromfile(CLASSIFIER).model)
    check_cuda_ops(classifier, device='cuda', has_cuda_ops=False)


def test_the_detection_search_runner_stops_too(tmp_path, detection_set):
    from mmengine.runner import Runner

    from det_search_utils import tiny_det_search_cfg
    runner = Runner.from_cfg(tiny_det_search_cfg(tmp_path, detection_set))
    with pytest.raises(SetupError, match='^mmcv here was built without its CUDA ops'):
        check_cuda_ops(runner.model, device='cuda', has_cuda_ops=False)
    check_cuda_ops(runner.model)


@pytest.mark.slow
def test_the_set_up_script_prints_this_machines_choice(tmp_path):
    """As tools/run.sh runs it: isolated, before cream_det is importable."""
    def setup(*args):
        return subprocess.run([sys.executable, '-I', osp.join(ROOT, 'cream_det', 'mmcv_ops.py'),
                               'setup', '--toolkit-dir', str(tmp_path), *args],
                              capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert setup('--ops', 'cpu').stdout == 'cpu\n'
    assert 'invalid choice' in setup('--ops', 'gpu').stderr
    decision = setup_decision(find_setup())
    if decision.toolkit:
        pytest.skip("here the set-up would download NVIDIA's compiler wheels")
    run = setup()
    assert run.returncode == (0 if decision.ops else 1), run.stderr
    assert run.stderr.splitlines()[-1] == f'[cream_det] {decision.message}'
    assert run.stdout == (f'{decision.ops}\n' if decision.ops else '')
