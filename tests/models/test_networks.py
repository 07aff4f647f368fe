import subprocess
import sys

import pytest
import torch
from mmdet.registry import MODELS
from timm.layers import DropPath

from cream_det import CreamNet, CreamSuperNet
from cream_det.cost import count_params

# Parameters of the official networks with a 1000-class head (issue #2).
OFFICIAL_PARAMS_M = {'cream-14': 2.673, 'cream-43': 4.399, 'cream-114': 4.410,
                     'cream-287': 6.044, 'cream-481': 7.713, 'cream-604': 9.696}


@pytest.mark.parametrize('name', list(OFFICIAL_PARAMS_M))
def test_published_models_have_official_parameter_counts(name):
    net = CreamNet(name)
    assert round(count_params(net) / 1e6, 3) == OFFICIAL_PARAMS_M[name]
    res = net.arch.resolution
    with torch.no_grad():
        assert net.eval()(torch.randn(2, 3, res, res)).shape == (2, 1000)


def test_official_supernet_parameter_count():
    net = CreamSuperNet(budget=(0, 600))
    assert net.depths == [4, 4, 5, 4, 4] and net.resolution == 224
    # The official supernet also holds a 4,001-parameter meta layer.
    assert count_params(net) == 29_805_072


def test_supernet_block_layout():
    net = CreamSuperNet(budget=(100, 200), num_classes=10)
    assert [len(stage) for stage in net.blocks] == [1, 1, 1, 3, 2, 1, 1]
    assert all(len(layer) == 6 for stage in net.blocks[1:-1] for layer in stage)
    kernels = [layer.conv_dw.kernel_size[0] for layer in net.blocks[3][1]]
    assert kernels == [3, 3, 5, 5, 7, 7]
    # Only a stage's first layer has the stride.
    assert net.blocks[3][0][0].conv_dw.stride == (2, 2)
    assert net.blocks[3][1][0].conv_dw.stride == (1, 1)


def test_exported_child_matches_supernet_path():
    torch.manual_seed(0)
    net = CreamSuperNet(budget=(100, 200), num_classes=10).eval()
    path = net.sample_path(torch.Generator().manual_seed(0))
    child = net.export_child(path).eval()
    assert child.arch == net.arch_of(path)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(child(x), net(x, path), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(net(x, path), net(x, [[5 - o for o in ops] for ops in path]))


def test_supernet_rejects_path_of_wrong_depth():
    net = CreamSuperNet(budget=(0, 100), num_classes=10)
    with pytest.raises(ValueError, match='does not fit the supernet depths'):
        net(torch.randn(1, 3, 64, 64), [[0], [0], [0, 0], [0], [0]])


def test_classifier_options():
    net = CreamNet('cream-14', num_classes=7, drop_rate=0.2, drop_path_rate=0.1)
    assert net.classifier.out_features == 7 and net.drop_rate == 0.2
    assert any(isinstance(m, DropPath) for m in net.modules())


def test_backbone_outputs():
    net = CreamNet('cream-287', out_indices=(2, 4, 6)).eval()
    assert net.out_channels == [40, 96, 320]
    assert not hasattr(net, 'classifier')
    with torch.no_grad():
        outs = net(torch.randn(1, 3, 128, 128))
    assert [tuple(o.shape) for o in outs] == [(1, 40, 16, 16), (1, 96, 8, 8), (1, 320, 4, 4)]


def test_backbone_bad_out_indices():
    with pytest.raises(ValueError, match=r'out_indices=\[2, 7\].*0\.\.6.*6: 320ch/s32'):
        CreamNet('cream-14', out_indices=(2, 7))


def test_frozen_stages_stay_frozen_and_norm_eval():
    net = CreamNet('cream-14', out_indices=(2, 4, 6), frozen_stages=2, norm_eval=False)
    net.train()
    frozen = [net.conv_stem, net.bn1, net.blocks[0], net.blocks[1]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for p in net.blocks[2].parameters())
    assert net.blocks[2].training

    net = CreamNet('cream-14', out_indices=(2, 4, 6), norm_eval=True).train()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    assert net.blocks[2].training


def test_registered_in_mmdet_models():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')  # as mmdet's tools do; a runner built earlier may have left another
    net = MODELS.build(dict(type='CreamNet', arch='cream-43', out_indices=(2, 4, 6)))
    assert isinstance(net, CreamNet)
    assert isinstance(MODELS.build(dict(type='CreamSuperNet', budget=(0, 100))), CreamSuperNet)


@pytest.mark.slow
def test_custom_imports_finds_the_backbone(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text("custom_imports = dict(imports=['cream_det'])\n"
                      "model = dict(type='CreamNet', arch='cream-114', out_indices=(2, 4, 6))\n")
    code = ('from mmengine.config import Config\n'
            'from mmdet.registry import MODELS\n'
            f'cfg = Config.fromfile({str(config)!r})\n'
            'print(type(MODELS.build(cfg.model)).__name__)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'CreamNet'


def test_entangled_supernet_runs_every_op_on_slices_of_the_largest():
    from cream_det.cost import CostTable, network_cost
    torch.manual_seed(0)
    independent = CreamSuperNet(budget=(100, 200), num_classes=10)
    net = CreamSuperNet(budget=(100, 200), num_classes=10, weight_sharing='entangled')
    assert count_params(net) < count_params(independent) / 3  # one block a layer
    table = CostTable(net)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 96, 96)
    for _ in range(3):
        path = net.sample_path(generator)
        child = net.export_child(path)
        for mode in (True, False):  # batch statistics, then running ones
            net.train(mode), child.train(mode)
            with torch.no_grad():
                torch.testing.assert_close(child(x), net(x, path), rtol=1e-5, atol=1e-5)
        whole = network_cost(child)
        assert table.flops(path) == whole['flops'] and table.params(path) == whole['params']
    # k3 is the centre of k7, e4 the first channels of e6: one update moves both.
    layer = net.blocks[1][0]
    k3e4 = layer.op_state(0)['conv_dw.weight']
    torch.testing.assert_close(k3e4, layer.block.conv_dw.weight[:k3e4.shape[0], :, 2:5, 2:5])
    with pytest.raises(ValueError, match="weight_sharing='shared': expected one of"):
        CreamSuperNet(budget=(0, 100), weight_sharing='shared')
