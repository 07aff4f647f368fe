import json
import os.path as osp
import re

import pytest
import torch
from mmengine.runner import Runner

from cream_det import CreamNet, build_space, resolve_arch
from cream_det.search import CreamSearch, PrioritizedBoard
from search_utils import TINY_SPACE, tiny_search_cfg


def _board(pool=3, gap=5.):
    return PrioritizedBoard(pool, build_space(TINY_SPACE), depths=[1, 1, 1, 1, 1],
                            resolution=32, slice_size=1, num_classes=2, acc_gap=gap)


def _insert(board, prec1, flops, it=0):
    return board.insert(prec1, flops, 1, [[0], [1], [0], [1], [2]], torch.zeros(1, 3, 32, 32),
                        torch.zeros(1, 2), it)


def test_board_insertion_rules_sorting_and_cap():
    board = _board()
    assert _insert(board, 10., 100) and _insert(board, 30., 100) and _insert(board, 20., 100)
    assert [e['score'] for e in board.entries()] == [30., 20., 10.]
    assert not _insert(board, 12., 100)       # full, not 5 points better, not cheaper
    assert _insert(board, 12., 50, it=7)      # better and cheaper than the worst
    assert [e['score'] for e in board.entries()] == [30., 20., 12.]
    assert board.entries()[2]['entered_at'] == 7
    assert not _insert(board, 16., 100)
    assert _insert(board, 17.5, 100)          # more than acc_gap above the worst
    assert [e['score'] for e in board.entries()] == [30., 20., 17.5]
    assert len(board) == 3


def _search_model(**kw):
    args = dict(supernet=dict(space=TINY_SPACE, depths=[1, 2, 1, 1, 1], num_classes=10),
                sampling='even', pool_size=4, slice_size=2, warmup_iters=0)
    args.update(kw)
    return CreamSearch(**args)


def _fill_board(model, n=4):
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        path = model.sample_path(i)
        model.board.insert(float(10 * i), model.cost.flops(path), model.cost.params(path),
                           path, torch.randn(2, 3, 32, 32, generator=g),
                           torch.randn(2, 10, generator=g), i)


def _bn_buffers(model):
    return {k: v.clone() for k, v in model.supernet.state_dict().items()
            if 'running' in k or 'num_batches' in k}


def test_teacher_selection_is_batched_and_leaves_bn_statistics_alone():
    torch.manual_seed(0)
    model = _search_model().train()
    _fill_board(model)
    before = _bn_buffers(model)
    calls = []
    hook = model.supernet.conv_stem.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    path = model.sample_path(99)
    scores = model.match_scores(path)
    weight, teacher = model.select_teacher(path)
    hook.remove()
    assert calls == [torch.Size([8, 3, 32, 32])] * 2  # one forward of all 4 entries x 2 images
    assert scores.shape == (4,)
    best = int(scores.argmax())
    # The weight is the chosen entry's, not the last one's (official issue #25).
    assert weight == pytest.approx(float(torch.sigmoid(-scores[best]).detach()))
    assert teacher == model.board.path(best)
    for key, value in _bn_buffers(model).items():
        torch.testing.assert_close(value, before[key], msg=key)


def test_paths_follow_seed_and_iteration():
    model = _search_model()
    assert model.sample_path(5) == model.sample_path(5)
    assert any(model.sample_path(5) != model.sample_path(i) for i in range(6, 12))
    assert [len(s) for s in model.sample_path(0)] == [1, 2, 1, 1, 1]
    pre = _search_model(sampling='pre_prob', pre_prob=(1., 0., 0.))
    assert all(op == 0 for ops in pre.sample_path(3) for op in ops)


def test_meta_update_moves_meta_network_through_all_path_parameters():
    torch.manual_seed(0)
    model = _search_model().train()
    _fill_board(model)
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    wrappers = OptimWrapperDict(
        supernet=OptimWrapper(torch.optim.SGD(model.supernet.parameters(), lr=0.1)),
        meta=OptimWrapper(torch.optim.SGD(model.meta.parameters(), lr=0.1)))
    meta_before = [p.clone() for p in model.meta.parameters()]
    path = model.sample_path(0)
    inputs, labels = torch.randn(4, 3, 32, 32), torch.randint(10, (4,))
    loss = model.meta_update(inputs, labels, path, wrappers)
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(meta_before, model.meta.parameters()))


def test_non_finite_loss_stops_before_any_update():
    model = _search_model()
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    wrappers = OptimWrapperDict(
        supernet=OptimWrapper(torch.optim.SGD(model.supernet.parameters(), lr=0.1)),
        meta=OptimWrapper(torch.optim.SGD(model.meta.parameters(), lr=0.1)))
    before = {k: v.clone() for k, v in model.supernet.state_dict().items()}
    bad = dict(inputs=torch.full((4, 3, 32, 32), float('nan')), data_samples=[0, 1, 2, 3])
    with pytest.raises(FloatingPointError, match='non-finite loss .* at iteration 0'):
        model.train_step(bad, wrappers)
    for key, value in model.supernet.state_dict().items():
        if 'running' not in key and 'num_batches' not in key:
            torch.testing.assert_close(value, before[key], msg=key, equal_nan=True)


def test_bad_options():
    with pytest.raises(ValueError, match="sampling='random'"):
        _search_model(sampling='random')
    with pytest.raises(ValueError, match='expected 3 probabilities'):
        _search_model(sampling='pre_prob')  # the official 6 for a 3-op space
    from cream_det.datasets import ImageFolderData
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ImageFolderData('/nonexistent', 'train')


def test_search_run_writes_arch_and_board(searched):
    tmp_path, _ = searched
    board = json.load(open(tmp_path / 'board.json'))['entries']
    assert 1 <= len(board) <= 4
    assert [e['score'] for e in board] == sorted((e['score'] for e in board), reverse=True)
    assert all('held_out' in e for e in board)
    arch = resolve_arch(str(tmp_path / 'arch.json'))  # usable as arch= everywhere
    assert arch.resolution == 32 and arch.meta['rule'] == 'official'
    assert str(arch) == board[0]['arch']
    # The tiny search's binding constraint: every entry and the choice within it.
    assert all(0.25 <= e['flops'] / 1e6 <= 0.275 for e in board)
    assert 0.25 <= arch.meta['flops'] / 1e6 <= 0.275
    assert arch.meta['constraint'] == '0.25-0.275 MFLOPs'
    flops = [e['flops'] / 1e6 for e in board]
    assert re.search(rf'the board: {len(board)} paths, {min(flops):.2f}-{max(flops):.2f} '
                     r'MFLOPs, held-out accuracy/top1 [\d.]+-[\d.]+, board score [\d.]+ to '
                     r'[\d.]+ \(training prec@1 \(%\) of the batch\); constraint 0.25-0.275 MFLOPs',
                     open(next(tmp_path.glob('*/*.log'))).read())
    net = CreamNet(str(tmp_path / "arch.json"), num_classes=10).eval()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    log = open(next(tmp_path.glob('*/*.log'))).read()
    for key in ('loss', 'kd_loss', 'prec1', 'match_weight', 'board_size', 'board_best',
                'board_worst', 'meta_loss', 'eta'):
        assert re.search(rf'\b{key}: ', log), key


def test_the_choice_is_redone_from_a_checkpoint(searched, tmp_path):
    from cream_det.selection.choice import path_estimates, select_from_checkpoint
    work_dir, cfg = searched
    arch = select_from_checkpoint(cfg, str(work_dir / 'iter_12.pth'), str(tmp_path))
    hook_choice = json.load(open(work_dir / 'arch.json'))
    again = json.load(open(tmp_path / 'arch.json'))
    assert again.pop('checkpoint') == str(work_dir / 'iter_12.pth')
    assert again == hook_choice and str(arch) == hook_choice['official_choice']
    assert json.load(open(tmp_path / 'board.json')) == json.load(open(work_dir / 'board.json'))
    held_out = select_from_checkpoint(cfg, str(work_dir / 'iter_12.pth'), str(tmp_path / 'h'),
                                      rule='held_out')
    assert str(held_out) == hook_choice['held_out_choice']
    scored = json.load(open(tmp_path / 'h' / 'board.json'))['entries']
    assert path_estimates(cfg, str(work_dir / 'iter_12.pth'), [e['path'] for e in scored]) \
        == [e['held_out'] for e in scored]


@pytest.mark.slow
def test_select_arch_tool(searched, tmp_path, run_tool):
    work_dir, cfg = searched
    config = str(tmp_path / 'search.py')
    cfg.dump(config)
    result = run_tool('tools/select_arch.py', config, str(work_dir / 'iter_12.pth'),
                      '--out-dir', str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    chosen = json.load(open(work_dir / 'arch.json'))['official_choice']
    assert f'chosen arch (official rule): {chosen}' in result.stdout
    assert (tmp_path / 'arch.json').is_file() and (tmp_path / 'board.json').is_file()


SEARCH_0_600 = 'configs/cream/cream-search_0-600_8xb128_in1k.py'


@pytest.mark.slow
def test_search_tool_clear_errors(tmp_path, run_tool):
    def _search_tool(*args):
        return run_tool('tools/search_backbone.py', SEARCH_0_600, *args, check=False)
    missing = _search_tool('--work-dir', str(tmp_path), '--cfg-options',
                           'train_dataloader.dataset.root=/nonexistent',
                           'train_dataloader.num_workers=0',
                           'train_dataloader.persistent_workers=False')
    assert missing.returncode != 0
    assert 'dataset folder /nonexistent/train does not exist' in missing.stderr
    assert 'Traceback' not in missing.stderr
    bad_option = _search_tool('--work-dir', str(tmp_path), '--cfg-options',
                              'model.pick_method=best')
    assert bad_option.returncode != 0
    assert "pick_method='best': expected one of ('meta', 'top1')" in bad_option.stderr
    assert 'Traceback' not in bad_option.stderr
    budget = _search_tool('--work-dir', str(tmp_path), '--cfg-options',
                          'model.supernet.budget=[700,800]')
    assert budget.returncode != 0 and 'no depth meets the FLOPs budget' in budget.stderr


def test_a_searched_path_exports_with_its_arch_and_inherited_weights(searched, tmp_path):
    from cream_det.export import export_backbone
    work_dir, cfg = searched
    out = str(tmp_path / 'backbone.pth')
    meta = export_backbone(cfg, str(work_dir / 'iter_12.pth'), out)
    assert meta['weights'] == 'supernet path (top of the board)'
    backbone = CreamNet(out_indices=(2, 4, 6), init_cfg=dict(
        type='Pretrained', checkpoint=out, prefix='backbone.'))  # the arch comes with it
    assert str(backbone.arch) == json.load(open(work_dir / 'arch.json'))['official_choice']
    backbone.init_weights()
    search = torch.load(work_dir / 'iter_12.pth', weights_only=False)['state_dict']
    torch.testing.assert_close(backbone.conv_stem.weight, search['supernet.conv_stem.weight'])


def test_the_main_job_reads_what_mmengine_writes(searched):
    from cream_det.experiments.runs import ROOT, last_checkpoint, logged_metrics
    work_dir, _ = searched
    assert osp.samefile(osp.join(ROOT, last_checkpoint(str(work_dir))), work_dir / 'iter_12.pth')
    metrics = logged_metrics(str(work_dir))
    assert metrics['step'] == 12 and 'board_size' in metrics and 'loss' in metrics


def test_search_steps_and_meta_update_with_entangled_weights():
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r'need an op with the largest kernel and the largest '
                       r'expansion \(k5e3\)'):
        _search_model(supernet=dict(space=TINY_SPACE, depths=[1] * 5, weight_sharing='entangled'))
    space = dict(TINY_SPACE, name='tiny-entangled', ops=['k3e2', 'k5e2', 'k5e3'])
    model = _search_model(supernet=dict(space=space, depths=[1, 2, 1, 1, 1], num_classes=10,
                                        weight_sharing='entangled'), update_iter=2).train()
    wrappers = OptimWrapperDict(
        supernet=OptimWrapper(torch.optim.SGD(model.supernet.parameters(), lr=0.1)),
        meta=OptimWrapper(torch.optim.SGD(model.meta.parameters(), lr=0.1)))
    data = dict(inputs=torch.randn(8, 3, 32, 32), data_samples=list(range(8)))
    meta_before = [p.clone() for p in model.meta.parameters()]
    logs = [model.train_step(data, wrappers) for _ in range(5)]
    assert len(model.board) > 0 and 'meta_loss' in logs[2] and torch.isfinite(logs[2]['meta_loss'])
    assert any(not torch.equal(a, b) for a, b in zip(meta_before, model.meta.parameters()))


def test_learning_curves_follow_probe_paths_in_every_mode(tmp_path):
    from cream_det.experiments.learning_curves import plot_learning_curves, run_learning_curves
    cfg = tiny_search_cfg(tmp_path, max_iters=4)
    cfg.held_out_dataloader = cfg.custom_hooks[0].held_out
    curves = run_learning_curves(cfg, str(tmp_path), iters=4, interval=2, fixed_op='k5e2')
    first = resolve_arch(curves['fixed']['first'])
    assert list(curves) == ['fixed', 'spos', 'cream']
    for mode, probes in curves.items():
        assert probes['paths'][0] == 'k5e2 / k5e2 k5e2 / k5e2 / k5e2 / k5e2 @32'
        assert [c['iter'] for c in probes['curve']] == [2, 4]
        assert all(len(c['scores']) == 4 and all(0 <= t <= 100 for t in c['scores'])
                   for c in probes['curve'])
    # The fixed run trained its path alone: an op off it kept its initial weights.
    fixed = torch.load(tmp_path / 'fixed' / 'iter_4.pth', weights_only=False)['state_dict']
    on, off = ('supernet.blocks.1.0.1.conv_pw.weight',  # k5e2, the fixed path's op
               'supernet.blocks.1.0.0.conv_pw.weight')  # k3e2
    from cream_det.experiments.learning_curves import learning_curve_cfg
    initial = Runner.from_cfg(learning_curve_cfg(cfg, 'fixed', str(tmp_path / 'init'), 4, 2,
                                                 first)).model.state_dict()
    assert not torch.equal(fixed[on], initial[on])
    assert torch.equal(fixed[off], initial[off])
    plot_learning_curves(curves, str(tmp_path / 'curves.png'))
    assert (tmp_path / 'curves.png').stat().st_size > 10_000


def test_fixed_sampling_trains_one_arch_alone():
    model = _search_model(sampling='fixed', fixed_arch=dict(
        space=TINY_SPACE, resolution=32, stages=[['k5e2'], ['k3e3', 'k3e2'], ['k3e2'], ['k3e2'],
                                                 ['k5e2']]))
    assert {str(model.sample_path(i)) for i in range(5)} == {'[[1], [2, 0], [0], [0], [1]]'}
    with pytest.raises(ValueError, match="give fixed_arch with sampling='fixed', and only then"):
        _search_model(sampling='fixed')


def test_meta_update_needs_two_slices_and_a_meta_network():
    from mmengine.optim import OptimWrapper, OptimWrapperDict

    def logs(model, batch):
        wrappers = OptimWrapperDict(
            supernet=OptimWrapper(torch.optim.SGD(model.supernet.parameters(), lr=0.1)),
            meta=OptimWrapper(torch.optim.SGD(model.meta.parameters(), lr=0.1)))
        data = dict(inputs=torch.randn(batch, 3, 32, 32), data_samples=[i % 10 for i in range(batch)])
        return [model.train_step(data, wrappers) for _ in range(4)]
    torch.manual_seed(0)
    full = logs(_search_model(update_iter=2).train(), 8)
    assert 'meta_loss' in full[2]
    small = logs(_search_model(update_iter=2).train(), 3)  # below 2 x slice_size (2)
    assert all('meta_loss' not in log and torch.isfinite(log['loss']) for log in small)
    top1 = logs(_search_model(update_iter=2, pick_method='top1').train(), 8)
    assert all('meta_loss' not in log for log in top1) and 'kd_loss' in top1[2]


def test_a_search_checkpoint_from_before_the_boards_score_still_loads(tmp_path):
    from cream_det.checkpoint import load_weights
    model = _search_model()
    model.board.insert(30., 100, 1, model.sample_path(0), None, None, 0)
    state = model.state_dict()
    state['board.prec1'] = state.pop('board.score')  # the key a board was saved under
    torch.save(dict(state_dict=state), tmp_path / 'old.pth')
    for load in (lambda m: m.load_state_dict(dict(state)),  # mmengine's resume
                 lambda m: load_weights(m, str(tmp_path / 'old.pth'))):  # the tools
        again = _search_model()
        load(again)
        assert again.board.entries() == model.board.entries()
