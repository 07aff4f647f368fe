"""The detection-search benchmark end to end (--quick, tiny): its own
detection set, one detection-aware search per search seed, every arch
trained at every seed, the statistics of what it can resolve; and a second
run reads everything from disk."""
import json
import math
import os.path as osp
import re

import pytest

TOOL = 'tools/analysis_tools/benchmark_detection_search.py'


@pytest.mark.slow
def test_quick_benchmark_reports_its_resolution_and_resumes_without_training(tmp_path, run_tool):
    work_dir = tmp_path / 'bench'
    args = ('--quick', '--work-dir', work_dir, '--cls-work-dir', tmp_path / 'cls',
            '--seeds', '0', '1', '--search-seeds', '0', '1', '--random', '2', '--board', '0',
            '--held-out-images', '8', '--truth-images', '8')
    first = run_tool(TOOL, *args, timeout=3600)  # minutes alone; far more on a busy machine
    with open(work_dir / 'det_search_quality.json') as f:
        result = json.load(f)

    with open(work_dir / 'fashion-det' / 'annotations' / 'instances_train.json') as f:
        info = json.load(f)['info']
    assert (info['num_train'], info['num_val']) == (200 + 8, 8)
    for seed in (0, 1):  # each search scored its board on the held-out images after the 200
        config = (work_dir / f'det_search_seed{seed}' /
                  'retinanet_cream-supernet_fpn_fashion-det.py').read_text()
        assert re.search(r'randomness = dict\(seed=%d\)' % seed, config)
        assert osp.isfile(work_dir / f'det_search_seed{seed}' / 'arch.json')
    roles = [role for row in result['rows'] for role in row['roles']]
    assert {'A', 'B0', 'B1', 'random 1', 'random 2'} <= set(roles)
    for row in result['rows']:  # every arch at both training seeds, its mAP their mean
        assert [run['seed'] for run in row['runs']] == [0, 1]
        assert row['bbox_mAP'] == pytest.approx(sum(r['bbox_mAP'] for r in row['runs']) / 2)
        assert len(row['det_estimates']) == 2
        for run in row['runs']:
            assert 0 <= run['bbox_mAP'] <= 1 and run['truth_images'] == 8

    ceiling = result['ceiling']
    assert ceiling['seeds'] == 2 and ceiling['archs'] == len(result['rows'])
    assert ceiling['seed_noise_sd'] >= 0
    taus = result['kendall_tau']
    assert {'classification', 'FLOPs', 'detection, search seed 0', 'detection, search seed 1',
            'detection, mean over search seeds'} == set(taus)
    for tau in [ceiling['kendall_tau'], *taus.values()]:
        assert math.isnan(tau['value']) or -1 <= tau['value'] <= 1
    assert -1 <= taus['FLOPs']['value'] <= 1  # FLOPs differ between archs: a tau
    for name in ('B', 'A'):
        gain = result['gains_over_random'][name]
        assert gain['detectable'] > 0 and gain['randoms'] == 2
        assert gain['ci95'][0] <= gain['value'] <= gain['ci95'][1]
    assert result['gains_over_random']['B']['choices'] == 2
    difference = result['b_minus_a']
    assert difference['detectable'] >= 0 and difference['choices'] == 2
    assert 'detectable' in result['detection_minus_classification_tau']
    printed = first.stdout
    assert 'The truth against itself' in printed and 'B - A, mAP' in printed

    second = run_tool(TOOL, *args, timeout=600)
    assert '$ python' not in second.stdout  # no tool run: every training, search and set read
    with open(work_dir / 'det_search_quality.json') as f:
        assert json.load(f)['rows'] == result['rows']
