"""Latency tables built in a deployment runtime: what is timed is each part
exported and run there (its outputs equal torch's), the table records the
runtime and prices paths as a torch table does, a search's latency budget
and select_for_budgets read it unchanged, and its children are timed in the
same runtime, and only there."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config

from cream_det.deployment.latency import RuntimeRunner, runner_for, table_runner
from cream_det.deployment.runtimes import BACKENDS, runtime_version
from cream_det.errors import ConfigError
from cream_det.latency import (ChildPart, LatencyTable, benchmark_latency_table,
                               build_latency_table)
from cream_det.search import CreamSearch
from cream_det.selection.budgets import select_for_budgets
from cream_det.selection.choice import searched_model
from latency_utils import DEPTHS, _all_paths, _tiny
from search_utils import TINY_SPACE


@pytest.fixture(scope='module')
def supernet():
    return _tiny()


@pytest.fixture(scope='module')
def ort_table(supernet, tmp_path_factory):
    """A table of the tiny supernet built in onnxruntime, one thread, and its file."""
    data = build_latency_table(supernet, repeats=2, warmup=1, rounds=1, progress=False,
                               runner=RuntimeRunner('onnxruntime', threads=1))
    path = str(tmp_path_factory.mktemp('tables') / 'ort.json')
    LatencyTable.from_dict(data).save(path)
    return LatencyTable.load(path), path


@pytest.mark.parametrize('backend', BACKENDS)
def test_what_a_runner_times_is_the_part_in_the_runtime(supernet, backend):
    child = supernet.export_child(supernet.split_path([2] * sum(DEPTHS))).eval()
    x = torch.randn(1, 3, 32, 32)
    runner = RuntimeRunner(backend, threads=2)
    assert runner.info == dict(runtime=backend, runtime_version=runtime_version(backend),
                               threads=2)
    first = ChildPart(child, 'first')
    with torch.no_grad():
        features = first(x)
        for part, part_input in ((first, x), (child.blocks[1][0], features),
                                 (ChildPart(child, 'head'), torch.randn(1, 32, 1, 1))):
            (out,) = runner(part, part_input)()
            np.testing.assert_allclose(out, part(part_input).numpy(), rtol=0, atol=1e-5)


def test_a_table_built_in_onnxruntime_records_it_and_prices_paths(supernet, ort_table):
    table, _ = ort_table
    device = table.data['device']
    assert (device['runtime'], device['runtime_version'], device['threads']) == (
        'onnxruntime', runtime_version('onnxruntime'), 1)
    assert table.runtime == 'onnxruntime'
    assert table.device.endswith(f'(1 thread, onnxruntime {runtime_version("onnxruntime")})')
    entries = list(table.data['fixed_ms'].values()) + [
        ms for stage in table.data['layer_ms'] for ops in stage for ms in ops]
    assert len(entries) == 3 + 3 * sum(DEPTHS)
    assert all(math.isfinite(ms) and ms > 0 for ms in entries)
    path = supernet.split_path([0, 1, 2, 0, 1, 2])
    by_hand = sum(table.data['fixed_ms'].values()) + sum(
        table.data['layer_ms'][s][layer][op] for s, ops in enumerate(path)
        for layer, op in enumerate(ops))
    assert table.latency_ms(path) == pytest.approx(by_hand)
    table.check_matches(supernet)


def test_a_latency_budget_binds_on_the_runtimes_table(supernet, ort_table):
    table, path = ort_table
    every = sorted(table.latency_ms(p) for p in _all_paths(supernet))
    low, high = every[len(every) // 4], every[3 * len(every) // 4]
    model = CreamSearch(supernet=dict(space=TINY_SPACE, depths=DEPTHS, num_classes=10),
                        sampling='even', pool_size=4, slice_size=3, warmup_iters=0,
                        constraint=dict(latency_ms=(low, high), table=path))
    assert all(low <= model.constraint.latency_ms(model.sample_path(i)) <= high
               for i in range(30))
    assert str(model.constraint) == f'{low:g}-{high:g} ms on {table.device}'


def test_budgets_are_chosen_on_the_runtimes_table(searched, ort_table):
    table = ort_table[0]
    model, scorer = searched_model(searched[1], str(searched[0] / 'iter_12.pth'))
    fastest, slowest = table.latency_range_ms()
    budget = fastest + 0.7 * (slowest - fastest)
    result = select_for_budgets(model, 'latency_ms', [budget], scorer, num_paths=4, seed=0,
                                table=table, logger=None)
    (best,) = result['budgets']
    assert best['latency_ms'] == table.latency_ms(best['path']) <= budget
    assert best['latency_device'] == table.device


def test_children_are_timed_in_the_tables_runtime_and_only_there(ort_table):
    table, path = ort_table
    cfg = Config(dict(model=dict(supernet=dict(space=TINY_SPACE, depths=DEPTHS, resolution=32,
                                               num_classes=10))))
    runner = table_runner(table)
    assert isinstance(runner, RuntimeRunner) and runner.info == {
        key: table.data['device'][key] for key in ('runtime', 'runtime_version', 'threads')}
    lines = []
    result = benchmark_latency_table(cfg, path, children=3, rounds=1, repeats=1, warmup=0,
                                     log=lines.append, runner=runner)
    assert len(result['measured']) == 3 and all(ms > 0 for ms in result['measured'])
    assert f'table: {table.device}' in lines[0]
    with pytest.raises(ConfigError, match='was measured in onnxruntime: time its networks '
                       'there'):
        benchmark_latency_table(cfg, path, children=3)
    with pytest.raises(ConfigError, match='at 1 threads; the networks would run in '
                       'onnxruntime .* at 2'):
        table.time_networks([], runner=RuntimeRunner('onnxruntime', threads=2))
    with pytest.raises(ConfigError, match='measured in onnxruntime, not openvino: build one '
                       'with latency_table.py --backend openvino'):
        table_runner(table, 'openvino')
    assert runner_for('torch') is None
    with pytest.raises(ConfigError, match="backend 'tvm': expected one of torch, onnxruntime"):
        runner_for('tvm')
    assert json.load(open(path))['correction'] is None  # no --fit, nothing stored


@pytest.mark.slow
def test_the_tools_build_benchmark_and_choose_on_a_runtimes_table(searched, tmp_path, run_tool):
    """latency_table.py --backend onnxruntime, benchmark_latency_table.py on
    its table (the children timed there), select_arch.py --latency-ms on it."""
    work_dir, cfg = searched
    config, table_file = str(tmp_path / 'search.py'), str(tmp_path / 'ort.json')
    cfg.dump(config)
    tools = 'tools/analysis_tools/'
    built = run_tool(tools + 'latency_table.py', config, '--out', table_file, '--backend',
                     'onnxruntime', '--threads', '1', '--repeats', '2', '--warmup', '1',
                     '--rounds', '1')
    table = LatencyTable.load(table_file)
    assert table.runtime == 'onnxruntime' and table.data['device']['threads'] == 1
    assert f'wrote {table_file}: {table.device}' in built.stdout
    checked = run_tool(tools + 'benchmark_latency_table.py', config, '--table', table_file,
                       '--children', '3', '--rounds', '1', '--repeats', '1', '--warmup', '0')
    assert checked.stdout.splitlines()[0].startswith(f'table: {table.device}')
    refused = run_tool(tools + 'benchmark_latency_table.py', config, '--table', table_file,
                       '--backend', 'torch', check=False)
    assert refused.returncode == 1 and 'Traceback' not in refused.stderr
    assert 'was measured in onnxruntime, not torch' in refused.stderr
    fastest, slowest = table.latency_range_ms()
    budget = f'{fastest + 0.7 * (slowest - fastest):.3f}'
    run_tool('tools/select_arch.py', config, str(work_dir / 'iter_12.pth'), '--out-dir',
             str(tmp_path / 'out'), '--latency-ms', budget, '--table', table_file,
             '--paths', '4')
    arch = json.load(open(tmp_path / 'out' / f'arch_{budget}ms.json'))
    assert arch['latency_ms'] <= float(budget) and arch['latency_device'] == table.device


def test_the_torch_detector_benchmark_refuses_a_runtimes_table(ort_table):
    from cream_det.detection.benchmark import check_table
    with pytest.raises(ConfigError, match='was measured in onnxruntime; the backbones here run '
                       'in PyTorch eager'):
        check_table(ort_table[0], (32, 32))
