"""CreamSuperNet as an mmdet backbone: CreamNet's backbone options, the path
set on it (mmdet calls ``backbone(x)``), weights from a classification search."""
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from cream_det import CreamSuperNet
from cream_det.detection import backbone_channels
from cream_det.errors import ArchError, CheckpointError, ConfigError
from cream_det.search import CreamSearch
from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 1]
OUT = (2, 4, 6)  # 16, 24 and 32 channels at strides 8, 16 and 32
PATH = [[0], [1, 2], [2], [1], [0]]
OTHER = [[2], [0, 1], [0], [2], [1]]
NO_PATH = 'CreamSuperNet has no path to run: call set_path'
ENTANGLED_SPACE = dict(TINY_SPACE, name='tiny-entangled', ops=['k3e2', 'k5e2', 'k5e3'])


def _supernet(**kw):
    args = dict(space=TINY_SPACE, depths=DEPTHS, resolution=32, num_classes=10, out_indices=OUT)
    return CreamSuperNet(**dict(args, **kw))


def _perturb(module, seed=1):
    """Weights and BN statistics away from their init, so that a wrong copy shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
        for name, buffer in module.named_buffers():
            if name.endswith('running_mean'):
                buffer.add_(0.1 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith('running_var'):
                buffer.mul_(1 + torch.rand(buffer.shape, generator=generator))
    return module


def _image(size=32):
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize('weight_sharing', ['independent', 'entangled'])
def test_backbone_outputs_are_the_exported_childs(weight_sharing):
    space = ENTANGLED_SPACE if weight_sharing == 'entangled' else TINY_SPACE
    net = _perturb(_supernet(space=space, weight_sharing=weight_sharing)).eval()
    net.set_path(PATH)
    child = net.export_child(PATH, out_indices=OUT).eval()
    with torch.no_grad():
        outs, expected = net(_image()), child(_image())
    assert isinstance(outs, tuple) and len(outs) == len(OUT)
    assert [o.shape[1] for o in outs] == net.out_channels == child.out_channels == [16, 24, 32]
    assert net.out_channels == backbone_channels(TINY_SPACE, OUT)
    assert [32 // o.shape[-1] for o in outs] == [8, 16, 32]
    for out, exp in zip(outs, expected):
        assert out.shape == exp.shape
        torch.testing.assert_close(out, exp, rtol=0, atol=1e-6)
    # A backbone has no head, and its children are backbones of its outputs.
    assert not hasattr(net, 'conv_head') and not hasattr(net, 'classifier')
    assert net.export_child(PATH).out_indices == OUT


def test_backbone_runs_only_up_to_its_deepest_output():
    net = _supernet(out_indices=(0, 2), path=PATH).eval()
    ran = []
    for i, stage in enumerate(net.blocks):
        for module in stage.modules():
            module.register_forward_pre_hook(lambda module, args, i=i: ran.append(i))
    with torch.no_grad():
        outs = net(_image())
    assert [o.shape[1] for o in outs] == [8, 16]
    assert set(ran) == {0, 1, 2}
    modules = {id(m) for m in net.path_modules(PATH)}
    assert id(net.blocks[0]) in modules and id(net.blocks[-1]) not in modules
    assert not any(id(m) in modules for m in net.blocks[3].modules())


def test_set_path_decides_what_runs(tmp_path):
    net = _perturb(_supernet()).eval()
    with pytest.raises(ConfigError, match=NO_PATH):
        net(_image())
    with torch.no_grad():
        net.set_path(PATH)
        first = net(_image())
        net.set_path(OTHER)
        other = net(_image())
        net.set_path(net.arch_of(PATH))  # an Arch works as well
        again = net(_image())
    assert all(not torch.allclose(a, b) for a, b in zip(first, other))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    net.set_path(None)
    with pytest.raises(ConfigError, match=NO_PATH):
        net(_image())
    with pytest.raises(ArchError, match='does not fit the supernet depths'):
        net.set_path([[0], [1], [2], [1], [0]])
    with pytest.raises(ArchError, match='op index 5'):
        net.set_path([[0], [1, 5], [2], [1], [0]])

    # A path fixed in the config: op indices, or an arch file.
    arch_file = tmp_path / 'arch.json'
    net.arch_of(PATH).dump(str(arch_file))
    for path in (PATH, str(arch_file)):
        with DefaultScope.overwrite_default_scope('mmdet'):  # as a detector config builds it
            fixed = MODELS.build(dict(type='CreamSuperNet', space=TINY_SPACE, depths=DEPTHS,
                                      resolution=32, num_classes=10, out_indices=OUT,
                                      path=path))
        assert isinstance(fixed, CreamSuperNet) and fixed.path == PATH
        fixed.load_state_dict(net.state_dict())
        with torch.no_grad():
            assert all(torch.equal(a, b) for a, b in zip(fixed.eval()(_image()), first))


def test_frozen_stages_and_norm_eval():
    net = _supernet(frozen_stages=2, path=PATH).train()
    frozen = [net.conv_stem, net.bn1, net.blocks[0], net.blocks[1]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for f in frozen for m in f.modules())
    assert all(p.requires_grad for p in net.blocks[2].parameters())
    assert all(m.training for m in net.blocks[2].modules())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net(_image())  # a training forward: the frozen BN statistics stay
    after = net.state_dict()
    assert torch.equal(after['bn1.running_mean'], before['bn1.running_mean'])
    assert torch.equal(after['blocks.1.0.0.bn1.running_mean'],
                       before['blocks.1.0.0.bn1.running_mean'])
    assert not torch.equal(after['blocks.2.0.1.bn1.running_mean'],
                           before['blocks.2.0.1.bn1.running_mean'])

    net = _supernet(norm_eval=True).train()
    norms = [m for m in net.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    assert net.training and net.blocks[3][0][0].conv_pw.training
    assert all(p.requires_grad for p in net.parameters())
    with pytest.raises(ConfigError, match='frozen_stages=8: expected -1'):
        _supernet(frozen_stages=8)


def test_init_from_a_search_checkpoint(tmp_path):
    search = CreamSearch(supernet=dict(space=TINY_SPACE, depths=DEPTHS, resolution=32,
                                       num_classes=10),
                         sampling='even', pool_size=4, slice_size=3, warmup_iters=0)
    _perturb(search.supernet)
    checkpoint = tmp_path / 'search.pth'
    torch.save({'state_dict': search.state_dict()}, checkpoint)
    init_cfg = dict(type='Pretrained', checkpoint=str(checkpoint), prefix='supernet.')
    net = _supernet(init_cfg=init_cfg)
    net.init_weights()
    source = search.supernet.state_dict()
    state = net.state_dict()
    # The search's head (conv_head, classifier) is left out, the rest is loaded.
    assert any(k.startswith(CreamSuperNet.HEAD_KEYS) for k in source)
    assert set(state) == {k for k in source if not k.startswith(CreamSuperNet.HEAD_KEYS)}
    for key, value in state.items():
        assert torch.equal(value, source[key]), key
    # A supernet of other depths does not take these weights silently.
    with pytest.raises(CheckpointError, match=r'do not fit it: .*missing from the checkpoint'):
        _supernet(depths=[1, 2, 2, 1, 1], init_cfg=init_cfg).init_weights()


def test_retinanet_with_the_supernet_backbone():
    from mmengine.hub import get_config
    cfg = get_config('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone = dict(type='CreamSuperNet', space=TINY_SPACE, depths=DEPTHS,
                              resolution=32, num_classes=10, out_indices=OUT, frozen_stages=0)
    cfg.model.neck.update(in_channels=backbone_channels(TINY_SPACE, OUT), start_level=0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model).eval()
    assert isinstance(detector.backbone, CreamSuperNet)
    image = torch.randn(1, 3, 64, 64)
    with pytest.raises(ConfigError, match=NO_PATH):
        detector._forward(image)
    detector.backbone.set_path(PATH)
    with torch.no_grad():
        scores, boxes = detector._forward(image)
    assert len(scores) == len(boxes) == cfg.model.neck.num_outs == 5
    assert [s.shape[-1] for s in scores] == [8, 4, 2, 1, 1]
