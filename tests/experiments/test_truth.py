"""Ground truth at several seeds, cached per recipe, arch and seed, and the
sweep that finds how long it must train to resolve."""
import json
import multiprocessing

import pytest
import torch
from search_utils import tiny_search_cfg

from cream_det.experiments.ranking import (_record, audit_paths, ground_truth, recipe_key,
                                           run_dir_name, truth_means)


def _record_trainings(cache_file, seed, archs=30):
    for i in range(archs):
        _record(cache_file, 'recipe', f'arch{i}', seed, float(100 * seed + i))


def test_processes_sharing_the_cache_keep_each_others_trainings(tmp_path):
    """One process per seed, side by side, on one cache file: every
    training of each is in the file at the end."""
    cache = str(tmp_path / 'truth.json')
    processes = [multiprocessing.get_context('fork').Process(target=_record_trainings,
                                                             args=(cache, seed))
                 for seed in (0, 1, 2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    assert all(p.exitcode == 0 for p in processes)
    stored = json.load(open(cache))['recipe']
    assert stored == {f'arch{i}': {str(s): float(100 * s + i) for s in (0, 1, 2)}
                      for i in range(30)}


@pytest.mark.slow
def test_ground_truth_trains_each_seed_once(tmp_path):
    from mmengine.registry import MODELS
    cfg = tiny_search_cfg(tmp_path / 'base')
    model = MODELS.build(cfg.model)
    archs = [model.supernet.arch_of(p) for p in audit_paths(model, 2, include_board=False)]
    cache = str(tmp_path / 'truth.json')
    logged = []
    truth = ground_truth(cfg, archs, cache, str(tmp_path / 'runs'), 2, seeds=(0, 1),
                         logger=logged.append)
    assert len(logged) == 4 and set(truth) == {str(a) for a in archs}
    assert all(len(v) == 2 and all(0 <= s <= 100 for s in v) for v in truth.values())
    # The seeds are seeds: the two trainings of an arch start from different weights.
    first, second = (torch.load(tmp_path / 'runs' / run_dir_name(archs[0], s) / 'iter_2.pth',
                                weights_only=False)['state_dict'] for s in (0, 1))
    assert any(not torch.equal(first[k], second[k]) for k in first if first[k].is_floating_point())
    stored = json.load(open(cache))[recipe_key(cfg, 2)]
    assert {a: [stored[a]['0'], stored[a]['1']] for a in stored} == truth
    assert truth_means(truth) == {a: sum(v) / 2 for a, v in truth.items()}
    # A third seed trains only that seed; the others come from the cache.
    logged.clear()
    more = ground_truth(cfg, archs, cache, str(tmp_path / 'runs'), 2, seeds=(0, 1, 2),
                        logger=logged.append)
    assert len(logged) == 2 and all(more[a][:2] == truth[a] for a in truth)
    # Another length is another recipe.
    assert recipe_key(cfg, 3) != recipe_key(cfg, 2)


@pytest.mark.slow
def test_truth_sweep_reports_the_ceiling_at_each_length(tmp_path, run_tool):
    cfg = tiny_search_cfg(tmp_path / 'base')
    config = str(tmp_path / 'search.py')
    cfg.dump(config)
    args = ('tools/analysis_tools/truth_sweep.py', '--config', config, '--lengths', '2', '3',
            '--num-archs', '2', '--work-dir', str(tmp_path / 'sweep'))
    out = run_tool(*args).stdout
    result = json.load(open(tmp_path / 'sweep' / 'truth_sweep.json'))
    assert [r['iters'] for r in result['rows']] == [2, 3]
    for row in result['rows']:
        assert row['ceiling']['archs'] == 2 and row['ceiling']['seeds'] == 2
        assert set(row['free_estimates']) == {'flops', 'params', 'snip'}
        assert row['truth_range'][0] <= row['truth_range'][1]
    assert out.count('\n| ') == 3  # the rule and two lengths
    # Everything is cached: a second run trains nothing and prints the same table.
    again = run_tool(*args).stdout
    assert 'ground truth' in out and 'ground truth' not in again
    assert again.splitlines()[-5:] == out.splitlines()[-5:]
    # One seed (a process beside one per other seed): trained, no ceiling.
    single = run_tool(*args[:-2], '--seeds', '2', '--work-dir', str(tmp_path / 'sweep')).stdout
    assert 'needs 2 seeds' in single and single.count('ground truth') == 4
