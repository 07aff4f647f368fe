"""The device check (cream_det.experiments.gpu_check, tools/misc/gpu_check.py):
end to end on the CPU at its quick settings, and its parts."""
import json
import math
import os.path as osp

import pytest
import torch

from cream_det.errors import ConfigError
from cream_det.experiments.gpu_check import (NOT_ON_CPU, SETTINGS, CudaGraphs, detector_rows,
                                             run_gpu_check)
from cream_det.experiments.search_step import search_step_figures
from cream_det.mmcv_ops import missing_cuda_ops, mmcv_cuda_ops
from search_utils import TINY_SPACE

NO_GPU = not torch.cuda.is_available()
TINY = dict(space=TINY_SPACE, depths=[1, 2, 1, 1, 1], resolution=32)


@pytest.mark.slow
def test_the_quick_check_runs_end_to_end_on_the_cpu(run_tool, tmp_path):
    run = run_tool(osp.join('tools', 'misc', 'gpu_check.py'), '--device', 'cpu', '--quick',
                   '--out', tmp_path)
    assert run.stdout.splitlines()[-1].startswith(f'wrote {tmp_path / "gpu_check.json"} and ')
    with open(tmp_path / 'gpu_check.json') as f:
        result = json.load(f)
    env = result['environment']
    assert env['type'] == 'cpu' and env['torch'] == torch.__version__
    assert env['mmcv_cuda_ops'] == mmcv_cuda_ops() and env['bf16'] is None
    assert result['quick'] and set(result['part_seconds']) == {'search_step', 'latency',
                                                                'detectors'}

    batch = SETTINGS['quick']['search_batch']
    rows = result['search_step']
    assert [(r['precision'], r['channels_last']) for r in rows] == [
        ('fp32', False), ('fp32', True), ('amp', False), ('amp', True)]
    for row in rows[:2]:
        ips = row['images_per_s']
        assert row['batch'] == batch and min(ips.values()) > 0 and row['peak_bytes'] is None
        assert row['cream_spos'] == pytest.approx(ips['SPOS'] / ips['Cream'])
        assert row['cream_floor'] == pytest.approx(ips['floor'] / ips['Cream'])
        assert row['meets_goal'] == (row['cream_floor'] <= 1.1)
    assert all(r['note'].startswith('not applicable: ') for r in rows[2:])

    eager = result['latency']['eager']
    assert -1 <= eager['kendall_tau'] <= 1 and eager['mape'] > 0
    assert eager['children'] == SETTINGS['quick']['children']
    assert osp.isfile(tmp_path / eager['table'])
    assert result['latency']['cuda_graphs'] == dict(note=NOT_ON_CPU)

    detectors = result['detectors']
    assert [d['detector'] for d in detectors] == [
        'RetinaNet, embedded', 'FCOS, embedded sizes', 'RetinaNet, COCO config']
    for row in detectors:
        assert row['finite'] and len(row['losses']) == row['iters'] > 0
        assert all(math.isfinite(v) and v > 0 for v in row['losses'])
        assert row['seconds_per_iter'] > 0 and 'note' not in row

    table = (tmp_path / 'gpu_check.md').read_text()
    assert table.startswith(f'# GPU check: {env["device"]}, {result["date"]} (quick')
    assert f'| mmcv_cuda_ops | {env["mmcv_cuda_ops"]} |' in table
    assert f'| fp32 | True | {batch} | {rows[1]["images_per_s"]["Cream"]:.1f} |' in table
    assert f'| cuda_graphs | {NOT_ON_CPU} |' in table
    first = detectors[0]
    assert (f'| RetinaNet, embedded | {first["iters"]} | {first["batch"]} x 64x64 | '
            f'{first["losses"][0]:.3f} -> {first["losses"][-1]:.3f} | True |') in table


def test_without_cuda_ops_on_a_gpu_the_detectors_record_the_stop():
    stop = missing_cuda_ops('cuda', True, False)
    lines = []
    rows = detector_rows('cpu', SETTINGS['quick'], lines.append, stop)
    assert [r['note'] for r in rows] == [stop] * 3
    assert not any('losses' in r for r in rows)
    assert lines == [f'{r["detector"]}: {stop}' for r in rows]


@pytest.mark.skipif(not NO_GPU, reason='this machine has a GPU')
def test_asking_for_a_gpu_that_is_not_there_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match='--device cuda: this machine has no CUDA GPU'):
        run_gpu_check(str(tmp_path), 'cuda', quick=True)


def test_channels_last_runs_the_search_step_and_says_so():
    lines = []
    figures = search_step_figures([2], steps=1, budget=None, log=lines.append,
                                  channels_last=True, **TINY)
    assert figures[2]['peak_bytes'] is None and min(figures[2]['seconds'].values()) > 0
    assert lines[0].endswith('threads, channels_last')


@pytest.mark.skipif(NO_GPU, reason='needs a CUDA GPU')
def test_on_a_gpu_the_search_step_under_amp_reports_peak_memory():
    dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
    figures = search_step_figures([4], steps=1, budget=None, log=lambda _: None,
                                  device='cuda', amp=dtype, **TINY)[4]
    assert set(figures['peak_bytes']) == {'Cream', 'SPOS', 'floor'}
    assert min(figures['peak_bytes'].values()) > 0


@pytest.mark.skipif(NO_GPU, reason='needs a CUDA GPU')
def test_a_cuda_graph_replay_gives_the_eager_output():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).cuda().eval()
    x = torch.randn(2, 3, 16, 16, device='cuda')
    with torch.no_grad():
        replay = CudaGraphs()(net, x)
        torch.testing.assert_close(replay(), net(x))
