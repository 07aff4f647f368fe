"""One supernet, many budgets (tools/select_arch.py --flops/--latency-ms), and
predicted latency in the files a choice writes: on the tiny search the
session runs, with the fake-clock latency table of latency_utils."""
import json
import os.path as osp
from concurrent.futures import ThreadPoolExecutor

import pytest

from cream_det.errors import ConfigError
from cream_det.latency import LatencyTable
from cream_det.selection.budgets import (budget_table_text, select_for_budgets,
                                      write_budget_archs)
from cream_det.visualization.search_plots import plot_budgets
from cream_det.selection.choice import choose_arch, searched_model
from latency_utils import _fake_table, _tiny

# The tiny space's paths span 0.239-0.307 MFLOPs; its board, 0.25-0.275.
FLOPS_BUDGETS = (0.26, 0.28, 0.30)


@pytest.fixture(scope='module')
def table():
    return LatencyTable.from_dict(_fake_table(_tiny()))


@pytest.fixture(scope='module')
def trained(searched):
    work_dir, cfg = searched
    return searched_model(cfg, str(work_dir / 'iter_12.pth'))


def _select(trained, measure, budgets, table=None, num_paths=6):
    model, scorer = trained
    assert scorer.calib_batches == 2  # the tiny search's arch hook's
    return select_for_budgets(model, measure, budgets, scorer, num_paths=num_paths, seed=0,
                              table=table, logger=None)


def test_each_budget_gets_the_best_scored_path_within_it(trained, searched):
    model, scorer = trained
    result = _select(trained, 'flops', FLOPS_BUDGETS)
    scored = result['scored']
    assert len({str(c['path']) for c in scored}) == len(scored)
    assert len(result['budgets']) == 3
    for best in result['budgets']:
        within = [c for c in scored if c['flops'] / 1e6 <= best['budget']]
        assert best['flops'] / 1e6 <= best['budget']
        assert best['held_out'] == max(c['held_out'] for c in within)
        assert not any(c['held_out'] == best['held_out'] and c['flops'] < best['flops']
                       for c in within)  # of equal estimates, the cheapest
        assert best['paths_within'] == len(within) >= 6
    top1 = [best['held_out'] for best in result['budgets']]
    assert top1 == sorted(top1)  # a larger budget never chooses worse
    # Scored by the shared evaluation code: the board entries as the arch
    # hook scored them when the search ended, any path as its scorer does.
    board = {e['arch']: e['held_out'] for e in
             json.load(open(searched[0] / 'board.json'))['entries']}
    from_board = [c for c in scored if c['source'] == 'board']
    assert from_board and all(c['held_out'] == board[c['arch']] for c in from_board)
    drawn = next(c for c in scored if c['source'] == 'drawn')
    assert drawn['held_out'] == scorer(model, drawn['path'])


def test_latency_budgets_and_the_files_they_write(trained, table, tmp_path):
    model = trained[0]
    fastest, slowest = table.latency_range_ms()
    budgets = [round(fastest + (slowest - fastest) * share, 3) for share in (0.4, 0.7)]
    result = _select(trained, 'latency_ms', budgets, table)
    for best in result['budgets']:
        assert best['latency_ms'] <= best['budget']
        assert best['latency_ms'] == table.latency_ms(best['path'])
        assert best['latency_device'] == table.device
    assert all('latency_ms' in c for c in result['scored'])
    files = write_budget_archs(result, model, str(tmp_path), checkpoint='ckpt.pth')
    assert [osp.basename(f) for f in files] == [f'arch_{b:g}ms.json' for b in budgets]
    arch = json.load(open(files[0]))
    chosen = result['budgets'][0]
    assert arch['budget'] == budgets[0] and arch['measure'] == 'latency_ms'
    assert (arch['latency_ms'], arch['held_out'], arch['flops']) == (
        chosen['latency_ms'], chosen['held_out'], chosen['flops'])
    assert arch['checkpoint'] == 'ckpt.pth'
    assert json.load(open(tmp_path / 'budgets.json'))['budgets'][1]['budget'] == budgets[1]
    picture = plot_budgets(result, str(tmp_path / 'pareto.png'))
    assert open(picture, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    text = budget_table_text(result, table.device)
    assert chosen['arch'] in text and f'{chosen["latency_ms"]:.2f} ms' in text
    assert f'latencies on {table.device}' in text


def test_budgets_the_space_cannot_meet_are_refused(trained, table):
    with pytest.raises(ConfigError, match=r'no path of this supernet lies within it; its paths '
                       r'span 0.24-0.31 MFLOPs'):
        _select(trained, 'flops', (0.1,))
    with pytest.raises(ConfigError, match='latency budgets need the latency table'):
        _select(trained, 'latency_ms', (1.,))


def test_the_choice_carries_predicted_latency_when_a_table_is_given(trained, table):
    model, loaders = trained
    arch, entries = choose_arch(model, table=table)
    for i, entry in enumerate(entries):
        assert entry['latency_ms'] == table.latency_ms(model.board.path(i))
        assert entry['latency_device'] == table.device
    assert arch.meta['latency_ms'] == entries[arch.meta['board_entry']]['latency_ms']
    assert 'latency_ms' not in choose_arch(model)[1][0]


@pytest.mark.slow
def test_select_arch_tool_for_budgets(searched, tmp_path, run_tool):
    work_dir, cfg = searched
    config = str(tmp_path / 'search.py')
    cfg.dump(config)
    tool = ['tools/select_arch.py', config, str(work_dir / 'iter_12.pth'),
            '--out-dir', str(tmp_path / 'out')]
    with ThreadPoolExecutor() as pool:  # both runs at once
        runs = list(pool.map(lambda args: run_tool(*tool, *args, check=False),
                             (['--flops', '0.27', '0.3', '--paths', '4'], ['--latency-ms', '1'])))
    (out, err), (_, no_table) = ((run.stdout, run.stderr) for run in runs)
    assert runs[0].returncode == 0, err[-3000:]
    chosen = json.load(open(tmp_path / 'out' / 'budgets.json'))['budgets']
    for budget, best in zip(('0.27', '0.3'), chosen):
        arch = json.load(open(tmp_path / 'out' / f'arch_{budget}MFLOPs.json'))
        assert arch['flops'] == best['flops'] and arch['flops'] / 1e6 <= float(budget)
        assert f'{budget:>8} MFLOPs {best["arch"]}' in out
    assert (tmp_path / 'out' / 'pareto.png').is_file()
    assert runs[1].returncode == 1 and 'Traceback' not in no_table
    assert 'error: --latency-ms needs --table' in no_table
