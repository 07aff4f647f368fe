import pytest
import torch
from mmengine.config import Config

from cream_det import CreamSuperNet, build_space
from cream_det.space import CREAM_SPACE


@pytest.mark.parametrize('budget, depths', [
    ((0, 100), [1, 1, 1, 1, 1]),
    ((100, 200), [1, 1, 3, 2, 1]),
    ((200, 300), [1, 2, 3, 3, 3]),
    ((300, 400), [2, 2, 5, 4, 3]),
    ((400, 500), [2, 4, 5, 4, 4]),
    ((0, 600), [4, 4, 5, 4, 4]),
    ((500, 600), [4, 4, 5, 4, 4]),
])
def test_official_budget_rule(budget, depths):
    assert CREAM_SPACE.supernet_layout(budget=budget) == (depths, 224)


def test_small_budget_lowers_resolution():
    depths, resolution = CREAM_SPACE.supernet_layout(budget=(0, 50))
    assert resolution < 224 and resolution % 32 == 0


@pytest.mark.parametrize('budget', [(0, 1), (700, 800)])
def test_infeasible_budget_gives_feasible_range(budget):
    with pytest.raises(ValueError) as err:
        CREAM_SPACE.supernet_layout(budget=budget)
    message = str(err.value)
    assert 'no depth meets the FLOPs budget' in message
    assert f'{CREAM_SPACE.budget_rule.max_flops():.1f}' in message
    assert f'{CREAM_SPACE.budget_rule.min_flops():.1f}' in message


def test_feature_layout():
    assert CREAM_SPACE.feature_channels() == [16, 24, 40, 80, 96, 192, 320]
    assert CREAM_SPACE.feature_strides() == [2, 4, 8, 16, 16, 32, 32]


def test_space_declared_in_a_config(tmp_path):
    config = tmp_path / 'space.py'
    config.write_text('''
space = dict(
    name='tiny',
    stem_channels=8,
    first_block='ds_r1_k3_s1_e1_c8_se0.25',
    stages=['ir_r1_k3_s2_e3_c16_se0.25', 'ir_r1_k3_s2_e3_c24_se0.25',
            'ir_r1_k3_s2_e3_c32_se0.25', 'ir_r1_k3_s1_e3_c32_se0.25',
            'ir_r1_k3_s2_e3_c48_se0.25'],
    ops=['k3e3', 'k5e3'],
    last_block='cn_r1_k1_s1_c64',
    head_channels=128,
    default_resolution=64)
model = dict(type='CreamSuperNet', space=space, depths=[1, 2, 1, 1, 2], num_classes=10)
''')
    cfg = Config.fromfile(str(config))
    space = build_space(cfg.space)
    assert space.ops == ('k3e3', 'k5e3') and space.feature_channels()[-1] == 64
    args = {k: v for k, v in cfg.model.items() if k != 'type'}
    net = CreamSuperNet(**args)
    assert net.depths == [1, 2, 1, 1, 2] and net.resolution == 64
    assert len(net.blocks[2][1]) == 2  # two candidate ops


def test_space_without_budget_rule_needs_depths():
    space = build_space(dict(
        name='nobudget', stem_channels=8, first_block='ds_r1_k3_s1_e1_c8',
        stages=['ir_r1_k3_s2_e3_c16'] * 5, ops=['k3e3'], last_block='cn_r1_k1_s1_c32',
        head_channels=64))
    with pytest.raises(ValueError, match='no budget_rule'):
        space.supernet_layout(budget=(0, 100))


def test_unknown_space_lists_known():
    with pytest.raises(KeyError, match="known: .*'cream'"):
        build_space('nope')


def test_a_space_derived_from_a_registered_one_changes_only_what_it_names():
    """The wide-ops benchmark space: Cream's layout with expansions 1, 3, 6;
    every op of it, e1 included, runs as a slice of the largest block."""
    cfg = Config.fromfile('configs/cream/cream-search_fashion-mnist_wide-ops.py')
    space = build_space(cfg.model.supernet.space)
    cream = build_space('cream')
    assert space.name == 'cream-wide-ops' and space.stages == cream.stages
    assert space.ops[0] == 'k3e1' and space.budget_rule is None
    net = CreamSuperNet(space=cfg.model.supernet.space, depths=[1, 1, 1, 1, 1], resolution=32,
                        num_classes=10, weight_sharing='entangled').eval()
    x = torch.randn(2, 3, 32, 32)
    for op in range(len(space.ops)):
        path = [[op]] * 5
        with torch.no_grad():
            torch.testing.assert_close(net.export_child(path).eval()(x), net(x, path))
    with pytest.raises(ValueError, match='needs a name of its own'):
        build_space(dict(base='cream', ops=['k3e1']))
