"""Latency tables: the timing, the table's look-ups, a latency budget in the
search, and the tools' errors. A fake clock that each module's forward
advances by its own parameter count stands in for the real one, so that
every entry of a table has a value known in advance (the CostTable's
parameter counts)."""
import itertools
import math
import os.path as osp
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from cream_det import Arch, CreamNet, CreamSuperNet
from cream_det.cost import CostTable
from cream_det.errors import ConfigError, MissingFileError
from cream_det.latency import LatencyTable, build_latency_table, measure_latency
from cream_det.search import CreamSearch
from latency_utils import (DEPTHS, MS_PER_PARAM, ParamClock, _all_paths, _fake_table, _middle,
                           _tiny)
from search_utils import CONFIG, TINY_SPACE

ROOT = osp.join(osp.dirname(__file__), '..', '..')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and lose much when the
    machine's cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def supernet():
    return _tiny()


@pytest.fixture(scope='module')
def data(supernet):
    return _fake_table(supernet)


@pytest.fixture
def table_file(data, tmp_path):
    path = str(tmp_path / 't.json')
    LatencyTable.from_dict(data).save(path)
    return path


# -- 1. timing -----------------------------------------------------------------
def test_measure_latency_is_the_median_after_the_warmup():
    clock = iter([0., 5., 10., 11., 20., 23.])  # the warm-up calls are not timed
    assert measure_latency(lambda: None, repeats=3, warmup=2, timer=lambda: next(clock)) == 3.
    with pytest.raises(ConfigError, match='repeats=0'):
        measure_latency(lambda: None, repeats=0)


# -- 2. the table ------------------------------------------------------------------
def test_the_table_records_what_it_timed_and_the_shape_each_block_saw(data):
    assert data['device']['type'] == 'cpu' and data['device']['cpu'] and data['device']['torch']
    assert (data['dtype'], data['batch'], data['shape']) == ('float32', 1, [32, 32])
    assert (data['space'], data['depths'], data['resolution']) == ('tiny-test', DEPTHS, 32)
    assert data['input_shapes'] == dict(
        first=[1, 3, 32, 32], last=[1, 24, 1, 1], head=[1, 32, 1, 1],
        layers=[[[1, 8, 16, 16]], [[1, 8, 8, 8], [1, 16, 4, 4]], [[1, 16, 4, 4]],
                [[1, 16, 2, 2]], [[1, 24, 2, 2]]])
    assert [len(stage) for stage in data['layer_ms']] == DEPTHS
    assert data['correction'] is None and data['rounds'] == 3


def test_each_entry_is_its_blocks_time(supernet, data):
    """With the clock at 1 us a parameter, every entry is its block's
    parameters: each candidate was timed, and only it."""
    cost = CostTable(supernet)
    flat = [ms for stage in data['layer_ms'] for ops in stage for ms in ops]
    params = [n for stage in cost.layer_params for ops in stage for n in ops]
    assert flat == pytest.approx([n * MS_PER_PARAM for n in params])
    fixed = data['fixed_ms']
    assert fixed['first'] + fixed['last'] + fixed['head'] == pytest.approx(
        cost.fixed_params * MS_PER_PARAM)
    assert min(fixed.values()) > 0


def test_other_sizes_and_batches_are_timed_at_their_shapes():
    data = _fake_table(_tiny(), shape=(32, 48), batch=2)
    assert data['shape'] == [32, 48] and data['batch'] == 2
    assert data['input_shapes']['layers'][1][1] == [2, 16, 4, 6]


def test_a_path_costs_the_sum_of_its_blocks(supernet, data):
    table = LatencyTable.from_dict(data)
    generator = torch.Generator().manual_seed(0)
    cost = CostTable(supernet)
    for _ in range(5):
        path = supernet.sample_path(generator)
        by_hand = sum(data['fixed_ms'].values()) + sum(
            data['layer_ms'][s][layer][op] for s, ops in enumerate(path)
            for layer, op in enumerate(ops))
        assert table.latency_ms(path) == pytest.approx(by_hand)
        assert table.latency_ms(path) == pytest.approx(cost.params(path) * MS_PER_PARAM)
    every = [table.latency_ms(p) for p in _all_paths(supernet)]
    assert table.latency_range_ms() == pytest.approx((min(every), max(every)))


def test_a_detection_backbone_costs_what_it_runs(supernet, data):
    """backbone_ms prices the blocks up to the deepest output, no head, of
    paths as deep as the table's or shallower: checked against mmdet-style
    CreamNet backbones timed on the same fake clock."""
    table = LatencyTable.from_dict(data)
    path = supernet.sample_path(torch.Generator().manual_seed(2))
    shallower = [ops[:1] for ops in path]
    for arch_path, out_indices in ((path, (2, 4, 6)), (path, (1, 3)), (shallower, (2, 6))):
        backbone = CreamNet(Arch.from_path(supernet.space, arch_path, 32),
                            out_indices=out_indices).eval()
        clock = ParamClock()
        handle = torch.nn.modules.module.register_module_forward_hook(clock.hook)
        try:
            with torch.no_grad():
                measured = measure_latency(lambda: backbone(torch.randn(1, 3, 32, 32)),
                                           repeats=1, warmup=0, timer=clock) * 1e3
        finally:
            handle.remove()
        assert table.backbone_ms(arch_path, out_indices) == pytest.approx(measured)
    assert table.backbone_ms(path, (2, 4, 6)) == pytest.approx(
        table.latency_ms(path) - data['fixed_ms']['head'])
    deeper = [ops * 2 for ops in path]
    with pytest.raises(ConfigError, match=r'prices depths up to \[1, 2, 1, 1, 1\]; the path '
                       r'has \[2, 4, 2, 2, 2\]'):
        table.backbone_ms(deeper, (2, 4, 6))


def test_the_correction_and_a_json_round_trip(supernet, data, tmp_path):
    table = LatencyTable.from_dict(dict(data))
    path = supernet.sample_path(torch.Generator().manual_seed(1))
    plain, (low, high) = table.latency_ms(path), table.latency_range_ms()
    assert table.correction == (1., 0.)
    table.set_correction(2., 1., children=30)
    table.save(str(tmp_path / 't.json'))
    loaded = LatencyTable.load(str(tmp_path / 't.json'))
    assert loaded.to_dict() == table.to_dict()
    assert loaded.correction == (2., 1.) and loaded.data['correction']['children'] == 30
    assert loaded.parts_ms(path) == pytest.approx(plain)
    assert loaded.latency_ms(path) == pytest.approx(2 * plain + 1)
    assert loaded.latency_range_ms() == pytest.approx((2 * low + 1, 2 * high + 1))
    assert loaded.device.startswith(f'{data["device"]["cpu"]} ({data["device"]["threads"]} ')


def test_a_table_of_another_supernet_or_no_table_is_refused(supernet, data, tmp_path):
    table = LatencyTable.from_dict(data, 'latency table t.json')
    table.check_matches(supernet)
    with pytest.raises(ConfigError, match=r'latency table t\.json was built for a supernet of '
                       r'depths \[1, 2, 1, 1, 1\] with 3 ops, but the supernet has depths '
                       r'\[1, 1, 1, 1, 1\] with 3 ops'):
        table.check_matches(_tiny(depths=[1, 1, 1, 1, 1]))
    with pytest.raises(ConfigError, match=r"built for search space 'tiny-test' \(ops k3e2, "
                       r"k5e2, k3e3\), but the supernet is of space 'tiny-other' \(ops k3e2, "
                       r'k5e2, k5e3\)'):
        table.check_matches(_tiny(space=dict(TINY_SPACE, name='tiny-other',
                                             ops=['k3e2', 'k5e2', 'k5e3'])))
    with pytest.raises(MissingFileError, match='latency table missing.json does not exist'):
        LatencyTable.load('missing.json')
    (tmp_path / 'bad.json').write_text('{')
    with pytest.raises(ConfigError, match='not JSON'):
        LatencyTable.load(str(tmp_path / 'bad.json'))
    with pytest.raises(ConfigError, match=r'not a latency table .*\(no layer_ms\)'):
        LatencyTable.from_dict({k: v for k, v in data.items() if k != 'layer_ms'})


def test_a_real_clock_gives_positive_times_at_the_threads_asked(supernet):
    torch.set_num_threads(2)
    try:
        data = build_latency_table(supernet, threads=1, repeats=2, warmup=1, progress=False)
        assert torch.get_num_threads() == 2 and data['device']['threads'] == 1
    finally:
        torch.set_num_threads(1)
    times = [data['fixed_ms']['first'], data['fixed_ms']['last']] + [
        ms for stage in data['layer_ms'] for ops in stage for ms in ops]
    assert all(math.isfinite(ms) and ms > 0 for ms in times)


# -- 3. a latency budget in the search ---------------------------------------------------
def _model(**kw):
    args = dict(supernet=dict(space=TINY_SPACE, depths=DEPTHS, num_classes=10),
                sampling='even', pool_size=4, slice_size=3, warmup_iters=0)
    return CreamSearch(**dict(args, **kw))


def test_every_drawn_path_lies_within_the_latency_budget(supernet, data, table_file):
    low, high = _middle(supernet, data)
    model = _model(constraint=dict(latency_ms=(low, high), table=table_file))
    latencies = [model.constraint.latency_ms(model.sample_path(i)) for i in range(50)]
    assert all(low <= ms <= high for ms in latencies)
    table = LatencyTable.from_dict(data)
    free = _model()
    free = [table.latency_ms(free.sample_path(i)) for i in range(50)]
    assert not all(low <= ms <= high for ms in free)
    assert str(model.constraint) == f'{low:g}-{high:g} ms on {table.device}'
    assert model.constraint.latency_table.device == table.device

    both = _model(constraint=dict(flops=(0.25, 0.28), latency_ms=(low, high), table=table_file))
    for i in range(20):
        path = both.sample_path(i)
        assert 0.25 <= both.cost.flops(path) / 1e6 <= 0.28
        assert low <= both.constraint.latency_ms(path) <= high
    assert str(both.constraint) == f'0.25-0.28 MFLOPs, {low:g}-{high:g} ms on {table.device}'
    assert _model(constraint=dict(flops=(0.25, 0.28))).constraint.latency_ms(path) is None


def test_latency_budgets_the_space_cannot_meet_are_refused(supernet, data, table_file):
    table = LatencyTable.from_dict(data)
    fastest, slowest = table.latency_range_ms()
    with pytest.raises(ConfigError, match=rf'no path of this supernet lies within it; its paths '
                       rf'span {fastest:.2f}-{slowest:.2f} ms on {re.escape(table.device)}'):
        _model(constraint=dict(latency_ms=(slowest + 1, slowest + 2), table=table_file))
    # Only the fastest path lies within, and the sampling never takes its ops.
    with pytest.raises(ConfigError, match=r'draws a path within it 0 times in 2000; its paths '
                       r'mostly span [\d.]+-[\d.]+ ms on'):
        _model(sampling='pre_prob', pre_prob=(0., 0., 1.),
               constraint=dict(latency_ms=(0, fastest + 1e-6), table=table_file))
    with pytest.raises(MissingFileError, match='latency table nowhere.json does not exist'):
        _model(constraint=dict(latency_ms=(0, 100), table='nowhere.json'))
    with pytest.raises(ConfigError, match='latency_ms=\\(low, high\\) comes with table=FILE'):
        _model(constraint=dict(latency_ms=(0, 100)))
    with pytest.raises(ConfigError, match='comes with table=FILE'):
        _model(constraint=dict(flops=(0.25, 0.28), table=table_file))
    with pytest.raises(ConfigError, match=r'depths \[1, 2, 1, 1, 1\] with 3 ops, but the '
                       r'supernet has depths \[2, 1, 1, 1, 1\]'):
        CreamSearch(supernet=dict(space=TINY_SPACE, depths=[2, 1, 1, 1, 1], num_classes=10),
                    constraint=dict(latency_ms=(0, 100), table=table_file))


def test_the_latency_config_searches_within_its_budget(tmp_path):
    """configs/cream/cream-search_fashion-mnist_latency.py, its table and
    range swapped for a fake-clock table of the embedded supernet."""
    from mmengine.config import Config
    from mmengine.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cream',
                                   'cream-search_fashion-mnist_latency.py'))
    assert set(cfg.model.constraint) == {'latency_ms', 'table'}
    supernet = CreamSuperNet(**{k: v for k, v in cfg.model.supernet.items() if k != 'type'})
    table = LatencyTable.from_dict(_fake_table(supernet))
    table.save(str(tmp_path / 'embedded.json'))
    every = sorted(table.latency_ms(p) for p in (
        supernet.split_path(flat) for flat in itertools.product(range(6), repeat=5)))
    low, high = every[len(every) // 4], every[len(every) // 2]
    cfg.model.constraint = dict(latency_ms=(low, high), table=str(tmp_path / 'embedded.json'))
    model = MODELS.build(cfg.model)
    assert model.constraint.flops_range is None
    assert all(low <= table.latency_ms(model.sample_path(i)) <= high for i in range(30))


# -- 4. the tools ----------------------------------------------------------------------
@pytest.mark.slow
def test_the_tools_name_a_missing_table_or_a_config_without_a_supernet(run_tool):
    tools = osp.join('tools', 'analysis_tools')
    calls = (('benchmark_latency_table.py', [CONFIG, '--table', 'missing.json']),
             ('latency_table.py', [osp.join(ROOT, 'configs', 'cream', 'cream_fashion-mnist.py'),
                                   '--out', 'never.json']))
    with ThreadPoolExecutor() as pool:  # both tools at once
        runs = list(pool.map(lambda call: run_tool(osp.join(tools, call[0]), *call[1],
                                                   check=False, timeout=300), calls))
    missing, no_supernet = (run.stderr for run in runs)
    assert all(run.returncode == 1 for run in runs)
    assert 'Traceback' not in missing + no_supernet
    assert 'error: latency table missing.json does not exist' in missing
    assert 'error: the config has no model.supernet: give a search config' in no_supernet
    assert not osp.exists(osp.join(ROOT, 'never.json'))
