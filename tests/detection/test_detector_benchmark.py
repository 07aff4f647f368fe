"""Detectors built from configs (cream_det.detection.cost) and the detector
benchmark (cream_det.detection.benchmark), at a tiny input size."""
import os.path as osp

import pytest
from mmengine.config import Config

from cream_det.archs import resolve_arch
from cream_det.detection.benchmark import CREAM, benchmark_detectors, check_table
from cream_det.detection.cost import build_detector, config_cost_text
from cream_det.errors import ConfigError
from cream_det.latency import LatencyTable, device_info

SIZE = (64, 64)
CONFIG_287 = CREAM.format(size='287')


def _table(tmp_path, shape=SIZE, batch=1, device=None):
    """A latency table of this machine for cream-287's depths, each block 1 ms."""
    arch = resolve_arch('cream-287')
    depths = [len(ops) for ops in arch.path()]
    ops = list(arch.space.ops)
    table = LatencyTable.from_dict(dict(
        device=device or device_info('cpu'), space=arch.space.name, ops=ops, depths=depths,
        shape=list(shape), batch=batch, dtype='float32',
        fixed_ms=dict(first=2., last=3., head=4.),
        layer_ms=[[[1.] * len(ops) for _ in range(d)] for d in depths]))
    path = str(tmp_path / 'table.json')
    table.save(path)
    return path


def test_a_table_must_price_the_detectors_input_on_this_machine(tmp_path):
    check_table(LatencyTable.load(_table(tmp_path)), SIZE)
    with pytest.raises(ConfigError, match='prices batch 1 at 32x32; the detectors run batch 1 '
                       'at 64x64: measure one with latency_table.py --shape 64 64'):
        check_table(LatencyTable.load(_table(tmp_path, shape=(32, 32))), SIZE)
    with pytest.raises(ConfigError, match='prices batch 2 at 64x64'):
        check_table(LatencyTable.load(_table(tmp_path, batch=2)), SIZE)
    elsewhere = dict(device_info('cpu'), cpu='another CPU')
    with pytest.raises(ConfigError, match="was measured on another CPU .* this machine's CPU"):
        check_table(LatencyTable.load(_table(tmp_path, device=elsewhere)), SIZE)


def test_build_detector_leaves_the_config_alone():
    cfg = Config.fromfile(CONFIG_287)
    detector = build_detector(cfg.model)
    assert not detector.training
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'  # popped from a copy only
    assert [m.out_channels for m in detector.neck.lateral_convs] == [256] * 3


def test_the_benchmark_times_costs_and_prices_each_detector(tmp_path):
    table_file = _table(tmp_path)
    lines = []
    result = benchmark_detectors(SIZE, rounds=1, table_file=table_file, log=lines.append)
    names = ['RetinaNet-cream-287', 'RetinaNet-R50', 'RetinaNet-MobileNetV2']
    assert list(result['detectors']) == names
    rows = result['detectors']
    assert rows[names[0]]['ratio'] == 1 and all(r['ms'] > 0 for r in rows.values())
    # RetinaNet-R50: 37.7 M parameters as mmdet builds it for COCO's 80 classes
    assert 37e6 < rows['RetinaNet-R50']['params'] < 38.5e6
    assert rows['RetinaNet-MobileNetV2']['params'] < rows['RetinaNet-R50']['params']
    assert lines[0] == f'input 64x64, batch 1, {result["threads"]} threads, median of 1 rounds'
    assert lines[1].split() == ['detector', 'latency', 'vs', 'first', 'GFLOPs', 'params']
    assert [line.split()[0] for line in lines[2:5]] == names
    assert lines[2].split()[1:4] == [f'{rows[names[0]]["ms"]:.0f}', 'ms', '1.00x']
    # the published model's get_flops line is the benchmark's count
    flops, params = rows[names[0]]['flops'], rows[names[0]]['params']
    assert config_cost_text(CONFIG_287, SIZE) == (
        f'retinanet_cream-287_fpn_1x_coco.py: RetinaNet on 64x64: {flops / 1e9:.2f} GFLOPs, '
        f'{params / 1e6:.2f} M parameters')
    table = LatencyTable.load(table_file)
    predicted = table.backbone_ms(resolve_arch('cream-287').path(), (2, 4, 6))
    assert list(result['backbones']) == names[:1]  # only Cream's are priced
    backbone = result['backbones'][names[0]]
    assert backbone['predicted_ms'] == predicted and backbone['measured_ms'] > 0
    assert lines[5] == f'backbones alone, against the table ({table.device}):'
    assert lines[6].split() == ['backbone', 'measured', 'predicted', 'error']
    assert lines[7].split()[:1] + lines[7].split()[3:5] == [names[0], f'{predicted:.1f}', 'ms']
    assert len(lines) == 8


@pytest.mark.slow
def test_the_tool_prints_the_detectors(run_tool):
    run = run_tool(osp.join('tools', 'analysis_tools', 'benchmark_detectors.py'), '--size', '64',
                   '64', '--rounds', '1')
    lines = run.stdout.splitlines()
    assert lines[0].startswith('input 64x64, batch 1, ') and len(lines) == 5
    assert lines[1].split() == ['detector', 'latency', 'vs', 'first', 'GFLOPs', 'params']
    assert [line.split()[0] for line in lines[2:]] == [
        'RetinaNet-cream-287', 'RetinaNet-R50', 'RetinaNet-MobileNetV2']
