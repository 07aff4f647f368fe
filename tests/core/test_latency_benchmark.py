"""The latency-table benchmark (cream_det.latency.benchmark_latency_table):
timing in turns, the errors and fits of a table's correction, and a run on
a table of this machine for the tiny space."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from cream_det.cli import load_config
from cream_det.errors import ConfigError
from cream_det.latency import (LatencyTable, benchmark_latency_table, build_latency_table,
                               fit_correction, leave_one_out, prediction_errors,
                               search_supernet, timed_in_turns)
from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 1]
TINY = dict(model=dict(supernet=dict(space=TINY_SPACE, depths=DEPTHS, resolution=32,
                                     num_classes=10)))


def test_timed_in_turns_takes_turns_after_a_warm_up_round():
    calls = []
    times = timed_in_turns({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
                           rounds=2, before=lambda r: calls.append(r))
    assert calls == [0, 'a', 0, 'b', 1, 'a', 1, 'b', 2, 'a', 2, 'b']
    assert set(times) == {'a', 'b'} and all(t >= 0 for t in times.values())


def test_the_errors_and_the_fits_of_a_correction():
    sums, measured = [1., 2., 4.], [1.1, 2.0, 5.0]
    mape, within = prediction_errors(sums, measured)
    assert mape == pytest.approx(100 * (0.1 / 1.1 + 0 + 0.2) / 3)
    assert within == pytest.approx(200 / 3)  # 1 against 1.1 and 2 against 2: within 10 %
    assert fit_correction(sums, measured, 'scale') == (pytest.approx(1.1), 0.)  # median ratio
    line = [2 * s + 3 for s in sums]
    assert fit_correction(sums, line, 'affine') == (pytest.approx(2.), pytest.approx(3.))
    assert leave_one_out(sums, line, 'affine') == pytest.approx(line)
    with pytest.raises(ConfigError, match='no positive slope'):
        fit_correction(sums, [5., 3., 1.], 'affine')
    with pytest.raises(ConfigError, match="fit 'cubic'"):
        fit_correction(sums, measured, 'cubic')


def _table_of_this_machine(tmp_path, cfg):
    path = str(tmp_path / 'table.json')
    LatencyTable.from_dict(build_latency_table(search_supernet(cfg), repeats=1, warmup=0,
                                               rounds=1, progress=False)).save(path)
    return path


def test_the_benchmark_prices_children_and_stores_a_fit(tmp_path):
    cfg = Config(TINY)
    table_file = _table_of_this_machine(tmp_path, cfg)
    lines = []
    result = benchmark_latency_table(cfg, table_file, children=3, rounds=1, repeats=1,
                                     warmup=0, fit='scale', log=lines.append)
    table = LatencyTable.load(table_file)
    generator = torch.Generator().manual_seed(0)  # the benchmark's draw, seed 0
    paths = [search_supernet(cfg).sample_path(generator) for _ in range(3)]
    assert result['sums'] == [table.parts_ms(p) for p in paths]
    assert result['predicted'] == result['sums']  # no correction until this run's fit
    assert len(result['measured']) == 3 and all(m > 0 for m in result['measured'])
    assert lines[0].startswith('table: ') and f'space tiny-test depths {DEPTHS}' in lines[0]
    assert lines[1].split() == ['child', 'sum', '(ms)', 'predicted', 'measured', 'error']
    assert [line.split()[0] for line in lines[2:5]] == ['0', '1', '2']
    assert lines[5] == '3 children (seed 0), median of 1 rounds of 1 calls each:'
    assert lines[7].startswith('  prediction (a=1.000, b=0.000 ms): MAPE ')
    fitted = json.load(open(table_file))['correction']
    assert fitted['kind'] == 'scale' and fitted['children'] == 3 and fitted['b'] == 0
    assert fitted['a'] == pytest.approx(result['fit']['a'])
    assert lines[-1].startswith(f'  fitted (scale) a={fitted["a"]:.3f}, b=0.000 ms: MAPE ')
    with pytest.raises(ConfigError, match='--children 2: expected at least 3'):
        benchmark_latency_table(cfg, table_file, children=2)


@pytest.mark.slow
def test_the_tool_prints_the_children_against_the_table(tmp_path, run_tool):
    config = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'cream',
                      'cream-search_fashion-mnist.py')
    table_file = _table_of_this_machine(tmp_path, load_config(config))
    run = run_tool(osp.join('tools', 'analysis_tools', 'benchmark_latency_table.py'), config,
                   '--table', table_file, '--children', '3', '--rounds', '1', '--repeats', '1',
                   '--warmup', '1')
    lines = run.stdout.splitlines()
    assert lines[0].startswith('table: ') and 'space cream depths [1, 1, 1, 1, 1]' in lines[0]
    assert lines[1].split() == ['child', 'sum', '(ms)', 'predicted', 'measured', 'error']
    assert lines[5] == '3 children (seed 0), median of 1 rounds of 1 calls each:'
    assert 'Kendall tau' in lines[7] and len(lines) == 8
