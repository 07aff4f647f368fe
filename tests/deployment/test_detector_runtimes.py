"""Detectors side by side in PyTorch eager and the deployment runtimes
(cream_det.deployment.benchmark, benchmark_detectors.py --backends): the
detectors compared, a searched arch in RetinaNet-Cream, the figures and
ratios a run reports, and bad input."""
import json

import pytest

from cream_det.deployment.benchmark import benchmark_detectors_in_runtimes, detector_configs
from cream_det.detection.cost import build_detector
from cream_det.errors import ConfigError

EMBEDDED_ARCH = dict(space='cream', resolution=32,
                     stages=[['k5e4'], ['k3e4'], ['k5e4'], ['k5e4'], ['k7e6']])


def test_the_detectors_compared_and_a_searched_arch_in_retinanet(tmp_path):
    arch_file = tmp_path / 'searched.json'
    arch_file.write_text(json.dumps(EMBEDDED_ARCH))
    configs = detector_configs(('cream-287', 'cream-481'), (str(arch_file),))
    assert list(configs) == ['RetinaNet-cream-287', 'RetinaNet-cream-481', 'RetinaNet-searched',
                             'RetinaNet-MobileNetV2', 'RetinaNet-R50']
    detector = build_detector(configs['RetinaNet-searched'])
    assert [list(ops) for ops in detector.backbone.arch.stages] == EMBEDDED_ARCH['stages']
    assert configs['RetinaNet-searched'].neck == configs['RetinaNet-cream-287'].neck
    tiny = dict(EMBEDDED_ARCH, space=dict(
        name='narrow', stem_channels=8, first_block='ds_r1_k3_s1_e1_c8',
        stages=['ir_r1_k3_s2_e2_c8', 'ir_r1_k3_s2_e2_c16', 'ir_r1_k3_s2_e2_c16',
                'ir_r1_k3_s1_e2_c24', 'ir_r1_k3_s2_e2_c24'],
        ops=['k5e4', 'k3e4', 'k7e6'], last_block='cn_r1_k1_s1_c32', head_channels=64,
        default_resolution=32))
    arch_file.write_text(json.dumps(tiny))
    with pytest.raises(ConfigError, match="an arch of space 'narrow'; RetinaNet-Cream's "
                       "config takes the Cream space's channels"):
        detector_configs((), (str(arch_file),))


@pytest.mark.parametrize('backends', [['onnxruntime', 'openvino'], ['torch', 'tensorrt']])
def test_the_backends_must_include_torch_and_be_known(backends):
    with pytest.raises(ConfigError, match='expected torch and any of onnxruntime, openvino'):
        benchmark_detectors_in_runtimes(backends)


@pytest.mark.slow
def test_the_tool_times_every_detector_in_every_runtime(tmp_path, run_tool):
    """At 64x64, one round, one thread: every detector exported, a figure
    per runtime with its min and max, the ratios to torch eager."""
    run = run_tool('tools/analysis_tools/benchmark_detectors.py', '--backends', 'torch',
                   'onnxruntime', 'openvino', '--cream', 'cream-287', '--threads', '1',
                   '--size', '64', '64', '--rounds', '1', '--work-dir', str(tmp_path))
    lines = run.stdout.splitlines()
    start = lines.index('1 thread:')
    assert lines[start + 1].split() == ['detector', 'torch', 'onnxruntime', 'openvino',
                                        'onnxruntime/torch', 'openvino/torch']
    rows = lines[start + 2:start + 5]
    assert [row.split()[0] for row in rows] == ['RetinaNet-cream-287', 'RetinaNet-MobileNetV2',
                                                'RetinaNet-R50']
    for row in rows:
        cells = row.split()
        torch_ms, ort_ms, ov_ms = (float(cells[i]) for i in (1, 4, 7))
        assert cells[2] == f'[{torch_ms:.1f}-{torch_ms:.1f}]'  # one round: min = max = median
        for ratio, ms in zip(cells[-2:], (ort_ms, ov_ms)):  # of the printed figures
            assert ratio.endswith('x') and float(ratio[:-1]) == pytest.approx(ms / torch_ms,
                                                                               abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'RetinaNet-MobileNetV2.onnx', 'RetinaNet-R50.onnx', 'RetinaNet-cream-287.onnx']
