import pytest
import torch

from cream_det import CreamNet
from cream_det.checkpoint import load_weights, read_checkpoint
from cream_det.errors import CheckpointError, ConfigError
from official_format import randomise_bn, write_official_checkpoint


@pytest.fixture(scope='module')
def official_file(tmp_path_factory):
    """A file as the official 2020 code wrote it: torch's legacy format, the
    training arguments as an object, plain and EMA weights."""
    torch.manual_seed(0)
    plain, ema = CreamNet('cream-14'), CreamNet('cream-14')
    randomise_bn(plain, 1)
    randomise_bn(ema, 2)
    path = tmp_path_factory.mktemp('official') / '14.pth.tar'
    write_official_checkpoint(path, plain, ema)
    return str(path), plain.eval(), ema.eval()


def test_weights_only_refuses_the_file_and_reader_reads_it(official_file):
    path, _, _ = official_file
    with pytest.raises(Exception, match='argparse.Namespace'):
        torch.load(path, weights_only=True)
    checkpoint = read_checkpoint(path)
    assert checkpoint['epoch'] == 499
    assert type(checkpoint['args']).__name__ == 'Opaque[argparse.Namespace]'


@pytest.mark.parametrize('ema', [True, False])
def test_official_file_loads_strictly_with_same_outputs(official_file, ema):
    path, plain, ema_net = official_file
    net = CreamNet('cream-14')
    assert load_weights(net, path, ema=ema) == ('state_dict_ema' if ema else 'state_dict')
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), (ema_net if ema else plain)(x))


@pytest.mark.parametrize('scheme, source', [('cream-ema://', 2), ('cream://', 1)])
def test_official_file_loads_through_mmengine_init_cfg(official_file, scheme, source):
    path, plain, ema_net = official_file
    net = CreamNet('cream-14', init_cfg=dict(type='Pretrained', checkpoint=scheme + path))
    net.init_weights()
    expected = (ema_net if source == 2 else plain).state_dict()
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, expected[key])


def test_mismatched_checkpoint_lists_first_mismatches(official_file):
    path, _, _ = official_file
    with pytest.raises(ValueError) as err:
        load_weights(CreamNet('cream-43'), path)
    message = str(err.value)
    assert 'does not fit the model' in message
    assert 'missing from the checkpoint: blocks.4.1.conv_pw.weight' in message
    assert ('shape mismatch: blocks.2.1.conv_dw.weight: checkpoint (240, 1, 5, 5) vs model '
            '(240, 1, 3, 3)') in message


def _backbone_file(path, net, meta=None):
    state = {'backbone.' + k: v for k, v in net.state_dict().items()}
    torch.save(dict(state_dict=state, meta=meta or {}), path)
    return str(path)


def test_backbone_refuses_weights_of_another_arch_through_init_cfg(tmp_path):
    other = _backbone_file(tmp_path / 'cream-43.pth', CreamNet('cream-43'))
    backbone = CreamNet('cream-14', out_indices=(2, 4, 6), init_cfg=dict(
        type='Pretrained', checkpoint=other, prefix='backbone.'))
    with pytest.raises(CheckpointError, match=r'do not fit its arch: .*shape mismatch: blocks'):
        backbone.init_weights()


def test_backbone_takes_its_arch_from_the_checkpoint_meta(tmp_path):
    torch.manual_seed(0)
    classifier = CreamNet('cream-43', num_classes=10)
    with_arch = _backbone_file(tmp_path / 'a.pth', classifier, dict(arch=classifier.arch.to_dict()))
    backbone = CreamNet(out_indices=(2, 4, 6), init_cfg=dict(
        type='Pretrained', checkpoint=with_arch, prefix='backbone.'))
    assert backbone.arch == classifier.arch
    backbone.init_weights()  # a classifier's head keys are left out, the rest must fit
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, classifier.state_dict()[key], msg=key)
    without = _backbone_file(tmp_path / 'b.pth', classifier)
    with pytest.raises(ConfigError, match='carries no arch in its meta: give arch='):
        CreamNet(out_indices=(2, 4, 6), init_cfg=dict(type='Pretrained', checkpoint=without))
