"""int8 static quantisation (cream_det.deployment.quantize): a tiny
classifier calibrated on the embedded config's real training images gives
nearly the float32 logits from a smaller file, and only the network is
quantised, not what follows its last weighted layer.

The tiny classifier is a plain convolutional one: a Cream child with
random weights loses much under int8 whatever the settings (depthwise
convolutions, SE and Swish; on cream-14, logits correlate 0.75 with
float32's), so it would not tell the quantiser's plumbing from the network."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from cream_det.datasets.classification import FASHION_MNIST_DIR
from cream_det.deployment.export import DEFAULT_OPSET, INPUT_NAME, read_metadata
from cream_det.deployment.quantize import (calibration_inputs, compare_int8, float_tail,
                                           quantize_onnx)
from cream_det.deployment.runtimes import open_session
from cream_det.errors import ConfigError

ROOT = osp.join(osp.dirname(__file__), '..', '..')
FASHION = osp.join(ROOT, 'configs', 'cream', 'cream_fashion-mnist.py')
pytestmark = pytest.mark.skipif(not osp.isdir(FASHION_MNIST_DIR),
                                reason='no Fashion-MNIST (apt-get install dataset-fashion-mnist)')


def _tiny_classifier():
    """Three conv-BN-ReLU layers and a linear head."""
    def layer(cin, cout):
        return [torch.nn.Conv2d(cin, cout, 3, 2, 1), torch.nn.BatchNorm2d(cout, momentum=None),
                torch.nn.ReLU()]
    torch.manual_seed(0)
    return torch.nn.Sequential(*layer(3, 32), *layer(32, 64), *layer(64, 128),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(128, 10)).eval()


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The tiny classifier exported as export_onnx exports a classifier (its
    exporter, opset and the metadata the quantiser reads), its BN statistics
    those of the embedded config's training images (so that activations
    have the ranges of a trained network), and quantised on 16 of them."""
    import onnx
    cfg = Config.fromfile(FASHION)
    tmp = tmp_path_factory.mktemp('int8')
    fp32 = str(tmp / 'cls.onnx')
    net = _tiny_classifier()
    _export(net, fp32)
    with torch.no_grad():
        net.train()(torch.from_numpy(np.concatenate(
            calibration_inputs(cfg, fp32, images=64, seed=2))))
    _export(net.eval(), fp32)
    int8 = quantize_onnx(fp32, cfg, str(tmp / 'cls_int8.onnx'), images=16)
    assert onnx.load(int8).graph.output[0].name == 'logits'
    return cfg, fp32, int8, net


def _export(net, path):
    import onnx
    torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), path, dynamo=False,
                      opset_version=DEFAULT_OPSET, input_names=[INPUT_NAME],
                      output_names=['logits'])
    model = onnx.load(path)
    for key, value in dict(kind='classifier', input_shape=[1, 3, 32, 32],
                           num_classes=10).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, path)


def test_the_int8_file_is_smaller_and_gives_nearly_the_float_logits(files):
    import onnx
    from onnx import numpy_helper
    cfg, fp32, int8, net = files
    assert osp.getsize(int8) < 0.4 * osp.getsize(fp32)  # int8 weights: a quarter, and scales
    model = onnx.load(int8)
    assert {'QuantizeLinear', 'DequantizeLinear'} <= {n.op_type for n in model.graph.node}
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    conv_dequant = [n for n in model.graph.node if n.op_type == 'DequantizeLinear'
                    and weights.get(n.input[0], np.zeros(0)).ndim == 4]
    assert [weights[n.input[1]].shape for n in conv_dequant] == [(32,), (64,), (128,)]  # per channel
    # 7 bits, the whole of them: no saturation in the 16-bit pair sums of CPUs without VNNI
    conv_weights = [weights[n.input[0]] for n in conv_dequant]
    assert {w.dtype for w in conv_weights} == {np.dtype(np.int8)}
    assert max(np.abs(w.astype(int)).max() for w in conv_weights) in (63, 64)
    meta = read_metadata(int8)
    assert meta['kind'] == 'classifier' and meta['input_shape'] == [1, 3, 32, 32]
    assert '7-bit weights per channel' in meta['quantized']
    assert '16 training images' in meta['quantized']
    images = calibration_inputs(cfg, fp32, images=32, seed=1)  # not the calibration's
    float_session, int8_session = open_session(fp32), open_session(int8)
    expected = np.concatenate([float_session({INPUT_NAME: x})[0] for x in images])
    got = np.concatenate([int8_session({INPUT_NAME: x})[0] for x in images])
    with torch.no_grad():
        np.testing.assert_allclose(
            expected, net(torch.from_numpy(np.concatenate(images))).numpy(), atol=1e-5)
    assert not np.array_equal(got, expected)  # quantised, not the same graph
    assert np.sqrt(np.mean((got - expected) ** 2)) < 0.1 * expected.std()
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9


def test_calibration_images_are_the_configs_preprocessed(files):
    cfg, fp32 = files[:2]
    images = calibration_inputs(cfg, fp32, images=4)
    assert [x.shape for x in images] == [(1, 3, 32, 32)] * 4
    assert all(x.dtype == np.float32 for x in images)
    # Normalised by the config's mean 72.9 and std 90: Fashion-MNIST's black
    # background and its padding become -0.81.
    assert min(float(x.min()) for x in images) == pytest.approx(-72.9 / 90, abs=1e-5)
    np.testing.assert_array_equal(calibration_inputs(cfg, fp32, images=4)[2], images[2])
    with pytest.raises(ConfigError, match='--images 0: expected at least 1'):
        calibration_inputs(cfg, fp32, images=0)


def test_only_the_network_is_quantised():
    """A graph shaped like a detector's end: Conv -> Relu -> Conv, then a
    score activation and a decoding step that feed no weighted layer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    weight = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), 'w')
    nodes = [helper.make_node('Conv', ['x', 'w'], ['a'], name='conv1'),
             helper.make_node('Relu', ['a'], ['b'], name='relu'),
             helper.make_node('Conv', ['b', 'w'], ['c'], name='conv2'),
             helper.make_node('Sigmoid', ['c'], ['d'], name='scores'),
             helper.make_node('Mul', ['d', 'c'], ['y'], name='decode')]
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4, 4]) for n in 'xy']
    model = helper.make_model(helper.make_graph(nodes, 'g', info[:1], info[1:], [weight]))
    onnx.checker.check_model(model)
    assert float_tail(model) == ['scores', 'decode']


def test_the_comparison_table(files):
    cfg, fp32, int8 = files[:3]
    lines = []
    rows = compare_int8(cfg, fp32, int8, rounds=1, repeats=1, warmup=0, accuracy=False,
                        log=lines.append)
    assert rows['int8']['mb'] < rows['float32']['mb']
    for row in rows.values():
        for backend in ('onnxruntime', 'openvino'):
            assert row[backend]['min_ms'] <= row[backend]['ms'] <= row[backend]['max_ms']
    assert lines[0] == 'latency at 1 thread: median [min-max] of 1 rounds in turns'
    assert lines[1].split() == ['size', 'onnxruntime', '(ms)', 'openvino', '(ms)']
    assert [line.split()[0] for line in lines[2:]] == ['float32', 'int8']


@pytest.mark.slow
def test_the_tool_says_one_line_for_a_file_cut_short(files, tmp_path, run_tool):
    cut = tmp_path / 'cut.onnx'
    cut.write_bytes(open(files[1], 'rb').read()[:3000])
    run = run_tool('tools/deployment/quantize.py', str(cut), '--calib', FASHION, check=False)
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert run.stderr.strip() == (f'error: ONNX file {cut} is not an ONNX model: its bytes do '
                                  'not parse as one (a file cut short, or of another format)')
    assert not (tmp_path / 'cut_int8.onnx').exists()
