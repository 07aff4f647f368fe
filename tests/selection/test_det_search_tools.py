"""The tools that read a search checkpoint serve a detection-aware search as
they serve a classification one: a tiny RetinaNet search run to its end,
then each tool as a user runs it on its config and checkpoint."""
import json

import pytest
import torch
from PIL import Image

from det_search_utils import tiny_det_search_cfg, with_arch_hook

pytestmark = pytest.mark.slow  # each spawns a tool: mmdet's imports alone take seconds


@pytest.fixture(scope='module')
def det_searched(tmp_path_factory, detection_set):
    """The tiny detection-aware search's work dir, its config file and the
    config, with the arch hook scoring the board on 4 held-out images."""
    from mmengine.runner import Runner
    work = tmp_path_factory.mktemp('det_search')
    cfg = with_arch_hook(tiny_det_search_cfg(work, detection_set, max_iters=5))
    Runner.from_cfg(cfg).train()
    config = work / 'det_search.py'
    cfg.dump(str(config))
    return work, str(config), cfg


def test_select_arch_redoes_the_choice_and_chooses_per_budget(det_searched, run_tool, tmp_path):
    work, config, _ = det_searched
    checkpoint = str(work / 'iter_5.pth')
    run_tool('tools/select_arch.py', config, checkpoint, '--out-dir', tmp_path / 'again')
    board, again = (json.load(open(d / 'board.json')) for d in (work, tmp_path / 'again'))
    assert again == board and board['score_key'] == 'coco/bbox_mAP'
    assert json.load(open(tmp_path / 'again' / 'arch.json'))['stages'] \
        == json.load(open(work / 'arch.json'))['stages']

    out = run_tool('tools/select_arch.py', config, checkpoint, '--out-dir', tmp_path / 'budgets',
                   '--flops', '0.26', '0.275', '--paths', '2').stdout
    result = json.load(open(tmp_path / 'budgets' / 'budgets.json'))
    assert result['score_key'] == 'coco/bbox_mAP' and 'held-out coco/bbox_mAP' in out
    for best in result['budgets']:  # the best held-out mAP within each budget
        within = [p['held_out'] for p in result['scored'] if p['flops'] / 1e6 <= best['budget']]
        assert best['flops'] / 1e6 <= best['budget'] and best['held_out'] == max(within)
        assert (tmp_path / 'budgets' / f'arch_{best["budget"]:g}MFLOPs.json').is_file()


def test_export_backbone_gives_the_supernet_paths_features(det_searched, run_tool, tmp_path):
    from mmengine.registry import MODELS

    from cream_det import CreamNet
    from cream_det.checkpoint import load_weights
    work, config, cfg = det_searched
    out = tmp_path / 'backbone.pth'
    run_tool('tools/model_converters/export_backbone.py', config, work / 'iter_5.pth', out)
    saved = torch.load(out, weights_only=True)
    search = MODELS.build(cfg.model)
    load_weights(search, str(work / 'iter_5.pth'))
    top = search.board.path(0)
    assert saved['meta']['arch']['stages'] == search.supernet.arch_of(top).to_dict()['stages']
    backbone = CreamNet(saved['meta']['arch'], out_indices=search.supernet.out_indices)
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in saved['state_dict'].items()})
    search.supernet.set_path(top)
    x = torch.randn(1, 3, 64, 64)
    for ours, theirs in zip(backbone.eval()(x), search.eval().supernet(x)):
        assert torch.equal(ours, theirs)


def test_plot_board_pictures_the_detection_board(det_searched, run_tool, tmp_path):
    from cream_det.visualization.search_plots import BOARD_FIGSIZE, DPI
    work, _, _ = det_searched
    run_tool('tools/analysis_tools/plot_board.py', work, '--out-dir', tmp_path,
             '--num-paths', '2', '--calib-batches', '1')
    with Image.open(tmp_path / 'board.png') as picture:
        assert picture.size == (int(BOARD_FIGSIZE[0] * DPI), int(BOARD_FIGSIZE[1] * DPI))
    assert (tmp_path / 'training.png').is_file()


def test_analyze_search_scores_board_and_uniform_paths_by_map(det_searched, run_tool):
    work, config, _ = det_searched
    out = run_tool('tools/analysis_tools/analyze_search.py', config, work / 'iter_5.pth',
                   '--paths', '2', '--calib-batches', '1').stdout
    lines = [line for line in out.splitlines() if 'held-out coco/bbox_mAP' in line]
    assert len(lines) == 2 and 'board - uniform' in out


def test_rank_correlation_takes_its_truth_from_detectors_trained_alone(det_searched, run_tool,
                                                                      tmp_path):
    work, config, _ = det_searched
    run_tool('tools/analysis_tools/rank_correlation.py', config, work / 'iter_5.pth',
             '--num-archs', '2', '--truth-iters', '2', '--no-board', '--calib-batches', '1',
             '--out-dir', tmp_path)
    result = json.load(open(tmp_path / 'rank_correlation.json'))
    assert result['score_key'] == 'coco/bbox_mAP' and len(result['archs']) >= 2
    assert all(0. <= a['truth'] <= 1. and 0. <= a['estimate'] <= 1. for a in result['archs'])
    # The truth: each arch trained alone, its path fixed, for --truth-iters iterations.
    assert len(list((tmp_path / 'standalone').glob('*_seed0/iter_2.pth'))) == len(result['archs'])
    assert (tmp_path / 'rank_correlation.png').is_file()


def test_select_arch_rerank_serves_the_detection_search(det_searched, run_tool, tmp_path):
    """The second stage on a detection-aware search: its shortlist by held-out
    mAP with inherited weights, each candidate trained on as a detector."""
    work, config, _ = det_searched
    out = run_tool('tools/select_arch.py', config, str(work / 'iter_5.pth'), '--out-dir',
                   tmp_path, '--rerank', '2', '--rerank-iters', '2', '--paths', '2').stdout
    assert 'second stage, 2 x 2 = 4 iterations' in out
    listed = json.load(open(tmp_path / 'rerank.json'))
    candidates = listed['candidates']
    assert listed['score_key'] == 'coco/bbox_mAP' and len(candidates) == 2
    assert candidates[0]['estimate'] >= candidates[1]['estimate']
    best = max(candidates, key=lambda c: c['score'])
    arch = json.load(open(tmp_path / 'arch.json'))
    assert arch['held_out'] == best['score'] and arch['rule'] == 'rerank'
    assert arch['rerank']['cost_iters'] == 4 and arch['score_key'] == 'coco/bbox_mAP'
    assert 0.25e6 <= arch['flops'] <= 0.275e6  # within the search's constraint
    for rank in range(2):  # each candidate trained as a detector, from the search's weights
        assert (tmp_path / 'rerank' / f'candidate_{rank}' / 'iter_2.pth').is_file()
