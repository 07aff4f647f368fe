"""Bad input: one family of errors, each naming the input and what was
expected, raised before a run rather than after it."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from cream_det import CreamClassifier, CreamError, CreamNet, resolve_arch
from cream_det.arch import Arch
from cream_det.checkpoint import read_checkpoint
from cream_det.errors import ArchError, CheckpointError, ConfigError
from cream_det.search import CreamSearch
from search_utils import TINY_SPACE, tiny_search_cfg

ROOT = osp.join(osp.dirname(__file__), '..', '..')
FASHION = osp.join(ROOT, 'configs', 'cream', 'cream_fashion-mnist.py')


def test_validation_errors_are_one_family_and_the_builtins_readers_expect():
    for bad, builtin in ((lambda: resolve_arch('cream-9'), KeyError),
                         (lambda: resolve_arch('missing.json'), FileNotFoundError),
                         (lambda: CreamNet('cream-14', out_indices=(2, 9)), ValueError),
                         (lambda: Arch.from_official([[0]] * 3), ValueError)):
        with pytest.raises(CreamError) as err:
            bad()
        assert isinstance(err.value, builtin)
        assert not str(err.value).startswith(("'", '"'))  # a KeyError's message unquoted


def test_truncated_arch_file_names_the_file(tmp_path):
    path = tmp_path / 'arch.json'
    path.write_text('{"space": "cream", "resolution": 224,\n')
    with pytest.raises(ArchError, match=f'arch file {path} is not valid JSON'):
        resolve_arch(str(path))


@pytest.mark.parametrize('damage', ['cut early', 'cut in half', 'not a checkpoint'])
def test_unreadable_checkpoint_names_the_file(tmp_path, damage):
    path = tmp_path / 'model.pth'
    torch.save(CreamNet('cream-14').state_dict(), path)
    data = path.read_bytes()
    path.write_bytes({'cut early': data[:5000], 'cut in half': data[:len(data) // 2],
                      'not a checkpoint': b'not a pickle' * 9}[damage])
    with pytest.raises(CheckpointError, match=f'{path} is not a readable checkpoint'):
        read_checkpoint(str(path))


@pytest.mark.slow
def test_tools_say_one_line_for_an_unreadable_checkpoint_and_a_truncated_arch(tmp_path,
                                                                              run_tool):
    checkpoint = tmp_path / 'cut.pth'
    torch.save(CreamNet('cream-14', num_classes=10).state_dict(), checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    result = run_tool('tools/test.py', FASHION, str(checkpoint), '--work-dir', str(tmp_path),
                      check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert f'error: {checkpoint} is not a readable checkpoint' in result.stderr
    arch = tmp_path / 'arch.json'
    arch.write_text('{"space": "cream",\n "stages": [["k3e4"]')
    result = run_tool('tools/train.py', FASHION, '--work-dir', str(tmp_path), '--cfg-options',
                      f'model.backbone.arch={arch}', check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert f'arch file {arch} is not valid JSON' in result.stderr


def test_nested_network_configs_of_another_type_are_refused():
    with pytest.raises(ConfigError, match="CreamClassifier builds a CreamNet; got type='ResNet'"):
        CreamClassifier(dict(type='ResNet', arch='cream-14'))
    CreamClassifier(dict(type='mmdet.CreamNet', arch='cream-14', num_classes=10))  # its own
    with pytest.raises(ConfigError, match="CreamSearch builds a CreamSuperNet; got type='Net'"):
        CreamSearch(supernet=dict(type='Net', space=TINY_SPACE, depths=[1] * 5))


def test_held_out_loader_mistake_stops_the_search_before_its_first_iteration(tmp_path):
    cfg = tiny_search_cfg(tmp_path)
    cfg.custom_hooks[0].held_out.dataset.stray_key = 1
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TypeError, match='stray_key'):
        runner.train()
    assert runner.iter == 0 and not list(tmp_path.glob('*.pth'))


@pytest.mark.slow
def test_importing_the_package_leaves_torch_load_alone():
    code = ('import torch, cream_det\n'
            'from mmengine.logging import HistoryBuffer\n'
            'before = HistoryBuffer in torch.serialization.get_safe_globals()\n'
            'import cream_det.compat; cream_det.compat.apply()\n'
            'print(before, HistoryBuffer in torch.serialization.get_safe_globals())\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.split() == ['False', 'True'], out.stderr[-2000:]
