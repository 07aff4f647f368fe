"""The ranking audit's machinery, on a hand-checked example and a tiny search."""
import json

import pytest

from cream_det.experiments.ranking import audit, audit_paths, rank_statistics


def test_rank_statistics_on_a_hand_checked_example():
    # Pairs: 6, of which one (b, c) is discordant: tau = (5 - 1) / 6.
    # Rank differences 0, 1, -1, 0: rho = 1 - 6 * 2 / (4 * 15) = 0.8.
    estimates = dict(a=1., b=2., c=3., d=4.)
    truth = dict(a=10., b=30., c=20., d=40.)
    result = rank_statistics(estimates, truth, chosen='c', k=2, bootstrap=200)
    assert result['kendall_tau']['value'] == pytest.approx(4 / 6)
    assert result['spearman_rho']['value'] == pytest.approx(0.8)
    assert result['top_k_overlap']['value'] == 0.5  # {d, c} against {d, b}
    assert result['chosen_true_rank']['value'] == 3 and result['chosen_true_rank']['of'] == 4
    for name in ('kendall_tau', 'spearman_rho', 'top_k_overlap'):
        low, high = result[name]['ci95']
        assert -1 <= low <= result[name]['value'] <= high <= 1
    reversed_truth = {k: -v for k, v in estimates.items()}
    assert rank_statistics(estimates, reversed_truth, bootstrap=10)['kendall_tau']['value'] == -1


def test_audit_paths_are_stratified_by_flops_within_the_constraint(searched):
    from cream_det.selection.choice import searched_model
    work_dir, cfg = searched
    model, _ = searched_model(cfg, str(work_dir / 'iter_12.pth'))
    paths = audit_paths(model, 4, include_board=False)
    flops = [model.cost.flops(p) / 1e6 for p in paths]
    assert flops == sorted(flops) and len(set(map(str, paths))) == 4
    assert all(0.25 <= f <= 0.275 for f in flops)
    assert audit_paths(model, 4, include_board=False) == paths  # seeded
    with_board = audit_paths(model, 4)
    assert all(model.board.path(i) in with_board for i in range(len(model.board)))


@pytest.mark.slow
def test_the_audit_trains_ground_truth_once_and_reuses_it(searched, tmp_path):
    work_dir, cfg = searched
    cache = tmp_path / 'truth.json'
    first = audit(cfg, str(work_dir / 'iter_12.pth'), str(tmp_path / 'a'), num_archs=3,
                  truth_iters=2, cache_file=str(cache), calib_batches=1, include_board=False)
    names = {a['arch'] for a in first['archs']}
    assert first['chosen'] in names and 3 <= len(names) <= 4
    assert all(0 <= a['truth'] <= 100 and 0 <= a['estimate'] <= 100 for a in first['archs'])
    assert set(first['free_estimates']) == {'flops', 'params', 'snip'}
    recipe = json.load(open(cache))[first['recipe']]
    assert set(recipe) == names
    assert (tmp_path / 'a' / 'rank_correlation.png').stat().st_size > 10_000
    # A second audit of the same archs trains nothing: the cache answers.
    second = audit(cfg, str(work_dir / 'iter_12.pth'), str(tmp_path / 'b'), num_archs=3,
                   truth_iters=2, cache_file=str(cache), calib_batches=1, include_board=False)
    assert not (tmp_path / 'b' / 'standalone').exists()
    assert [a['truth'] for a in second['archs']] == [a['truth'] for a in first['archs']]


def test_an_interrupted_benchmark_search_goes_on_where_it_stopped(tmp_path):
    """A 4,000-iteration search outlives a session; run again, the benchmark
    resumes it from its latest checkpoint and ends as the straight run."""
    import torch
    from mmengine.runner import Runner
    from search_utils import InterruptAt, Interrupted, tiny_search_cfg

    from cream_det.experiments.search_quality import run_search, search_cfg
    cfg = tiny_search_cfg(tmp_path / 'base')

    def run(work_dir):
        return search_cfg(cfg, 'cream', 0, str(work_dir), 8, checkpoint_interval=4)
    straight = run_search(run(tmp_path / 'straight'))
    runner = Runner.from_cfg(run(tmp_path / 'split'))
    runner.register_hook(InterruptAt(6))
    with pytest.raises(Interrupted):
        runner.train()
    assert [p.name for p in (tmp_path / 'split' / 'cream_8it_seed0').glob('*.pth')] == [
        'iter_4.pth']
    logged = []
    resumed = run_search(run(tmp_path / 'split'), logger=logged.append)
    assert logged == [f'searching: {tmp_path}/split/cream_8it_seed0']
    split = tmp_path / 'split' / 'cream_8it_seed0'
    assert [p.name for p in split.glob('*.pth')] == ['iter_8.pth']
    assert 'resumed epoch: 0, iter: 4' in open(max(split.glob('*/*.log'))).read()
    a, b = (torch.load(c, weights_only=False)['state_dict'] for c in (straight, resumed))
    assert int(a['board.size']) > 0 and a.keys() == b.keys()
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.slow
def test_the_search_quality_benchmark_on_a_tiny_case(tmp_path):
    from search_utils import tiny_search_cfg

    from cream_det.errors import ConfigError
    from cream_det.experiments.search_quality import (benchmark_search_quality,
                                                      search_quality_table)
    cfg = tiny_search_cfg(tmp_path / 'base')
    logged = []
    settings = dict(seeds=(0,), lengths=(8, 12), num_archs=3, truth_iters=2, truth_seeds=(0, 1),
                    calib_batches=1, rerank_k=2, rerank_iters=2)
    result = benchmark_search_quality(cfg, str(tmp_path), **settings, logger=logged.append)
    assert set(result['supernets']) == {f'{m}_{n}it_seed0' for m in ('cream', 'spos')
                                        for n in (8, 12)}
    for r in result['supernets'].values():
        assert -1 <= r['kendall_tau']['value'] <= 1
        assert 0.25 <= r['chosen_mflops'] <= 0.275
        assert r['chosen_truth'] == sum(result['truth'][r['chosen']]) / 2
    assert result['ceiling']['seeds'] == 2 and result['ceiling']['archs'] == 3
    assert set(result['free_estimates']) == {'flops', 'params', 'snip'}
    for length in ('8it', '12it'):
        c = result['comparisons'][length]
        assert {'cream_minus_spos_tau', 'cream_choice_over_random',
                'spos_choice_over_random'} == set(c)
        assert c['cream_choice_over_random']['detectable'] > 0
    rerank = result['comparisons']['rerank']
    assert rerank['cost_iters'] == 4 and len(rerank['two_stage_truth']) == 1
    spos_log = open(next((tmp_path / 'spos_8it_seed0').glob('*/*.log'))).read()
    assert 'kd_loss' not in spos_log and 'board_size' in spos_log
    table = search_quality_table(result)
    assert table.count('\n| ') == 1 + 4 + 1 + 6 + 4  # headers, supernets, comparisons, rerank
    paired = rerank['two_stage_over_best_of_k_random']
    assert paired['pairs'] == 1 and paired['value'] == pytest.approx(
        rerank['two_stage_truth'][0] - rerank['best_of_k_random_truth'][0])
    # Run again: every search, stage and ground truth is found, nothing trains.
    logged.clear()
    again = benchmark_search_quality(cfg, str(tmp_path), **settings, logger=logged.append)
    assert not any(line.startswith(('searching', 'ground truth', 'second stage'))
                   for line in logged)
    assert again['truth'] == result['truth']
    # One method alone (a process of its own) finds its runs too, and has no
    # Cream - SPOS to report.
    spos = benchmark_search_quality(cfg, str(tmp_path), **settings, methods=('spos',),
                                    logger=logged.append)
    assert not any(line.startswith(('searching', 'ground truth')) for line in logged)
    assert set(spos['comparisons']['8it']) == {'spos_choice_over_random'}
    assert spos['supernets']['spos_8it_seed0'] == result['supernets']['spos_8it_seed0']
    assert 'rerank' not in spos['comparisons'] and 'Cream - SPOS' not in search_quality_table(spos)
    with pytest.raises(ConfigError, match='expected some of'):
        benchmark_search_quality(cfg, str(tmp_path), methods=('darts',))
