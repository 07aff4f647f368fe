"""The runtimes a deployed network runs in: a tiny torch network exported
to ONNX gives torch's outputs in onnxruntime and in OpenVINO, at the thread
count asked for, and bad input (a file cut short or of another format, an
unknown backend, a runtime that is not installed) is one line."""
import sys

import numpy as np
import pytest
import torch

from cream_det.deployment.runtimes import BACKENDS, open_session, runtime_version
from cream_det.errors import CheckpointError, ConfigError, MissingFileError, MissingPackageError


class TinyNet(torch.nn.Module):
    """What Cream's blocks are made of: a convolution with BN and hard-swish,
    a depthwise convolution, squeeze-and-excitation with a hard-sigmoid
    gate, pooling and a linear head; two outputs."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.BatchNorm2d(8),
                                        torch.nn.Hardswish())
        self.depthwise = torch.nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.se = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(8, 4, 1),
                                      torch.nn.ReLU(), torch.nn.Conv2d(4, 8, 1),
                                      torch.nn.Hardsigmoid())
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = self.depthwise(x)
        x = x * self.se(x)
        return self.head(x.mean((2, 3))), x


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The net, an input, and its ONNX file (torch's default exporter)."""
    torch.manual_seed(0)
    net = TinyNet().eval()
    with torch.no_grad():  # BN statistics that are not the identity
        net.stem[1].running_mean.uniform_(-1, 1)
        net.stem[1].running_var.uniform_(0.5, 2)
    x = torch.randn(1, 3, 32, 32)
    path = tmp_path_factory.mktemp('onnx') / 'tiny.onnx'
    torch.onnx.export(net, (x,), str(path), input_names=['image'],
                      output_names=['logits', 'features'], dynamo=True, verbose=False)
    return net, x, path


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('threads', [1, 2])
def test_both_runtimes_give_torchs_outputs_at_the_threads_asked(exported, backend, threads):
    net, x, path = exported
    session = open_session(path, backend, threads=threads)
    assert (session.backend, session.threads) == (backend, threads)
    assert session.version == runtime_version(backend) and session.version[0].isdigit()
    assert (session.input_names, session.output_names) == (['image'], ['logits', 'features'])
    with torch.no_grad():
        expected = [t.numpy() for t in net(x)]
    outputs = session({'image': x.numpy()})
    assert [o.shape for o in outputs] == [(1, 5), (1, 8, 16, 16)]
    for out, ref in zip(outputs, expected):
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)


def test_a_session_opens_from_bytes_and_runs_again_the_same(exported):
    import onnx
    net, x, path = exported
    data = onnx.load(str(path)).SerializeToString()  # the weights saved beside it, inlined
    session = open_session(data, 'openvino')
    first = session({'image': x.numpy()})[0]
    np.testing.assert_array_equal(session({'image': x.numpy()})[0], first)
    np.testing.assert_allclose(first, open_session(data)({'image': x.numpy()})[0], atol=1e-5)


@pytest.mark.parametrize('damage', ['cut early', 'cut in half', 'a JSON file', 'empty'])
@pytest.mark.parametrize('backend', BACKENDS)
def test_a_truncated_or_foreign_file_is_named_in_one_line(exported, tmp_path, damage, backend):
    import onnx
    data = onnx.load(str(exported[2])).SerializeToString()
    path = tmp_path / 'model.onnx'
    path.write_bytes({'cut early': data[:200], 'cut in half': data[:len(data) // 2],
                      'a JSON file': b'{"arch": "cream-14"}', 'empty': b''}[damage])
    with pytest.raises(CheckpointError, match=f'ONNX file {path} is not an ONNX model') as err:
        open_session(path, backend)
    assert '\n' not in str(err.value)


def test_a_graph_cut_at_a_field_boundary_is_not_whole(exported):
    import onnx
    model = onnx.load(str(exported[2]))
    del model.graph.node[0]  # what a file cut between two nodes would parse as
    with pytest.raises(CheckpointError, match='is not a whole ONNX model') as err:
        open_session(model.SerializeToString())
    assert '\n' not in str(err.value)


def test_a_missing_file_an_unknown_backend_and_bad_threads(exported, tmp_path):
    with pytest.raises(MissingFileError, match=f'ONNX file {tmp_path}/none.onnx does not'):
        open_session(tmp_path / 'none.onnx')
    with pytest.raises(ConfigError, match="backend 'tensorrt': expected one of onnxruntime, "
                       'openvino'):
        open_session(exported[2], 'tensorrt')
    with pytest.raises(ConfigError, match='threads=0'):
        open_session(exported[2], threads=0)
    with pytest.raises(ConfigError, match='takes inputs image; given input'):
        open_session(exported[2])({'input': exported[1].numpy()})


@pytest.mark.parametrize('backend', BACKENDS)
def test_a_runtime_that_is_not_installed_says_how_to_install_it(exported, monkeypatch, backend):
    monkeypatch.setitem(sys.modules, backend, None)  # what import finds when it is absent
    with pytest.raises(MissingPackageError, match=f'{backend} is not installed: pip install '
                       f'{backend}'):
        open_session(exported[2], backend)
    with pytest.raises(ImportError):
        runtime_version(backend)
