"""The search against the official code's rules: sampling, the look-ahead,
the teacher scores, BatchNorm statistics, mixed precision, and a budget that
binds."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict

from cream_det.models.batch_norm import bn_stats_frozen
from cream_det.search import CreamSearch
from search_utils import TINY_SPACE

ENTANGLED_SPACE = dict(TINY_SPACE, name='tiny-entangled', ops=['k3e2', 'k5e2', 'k5e3'])


def _model(weight_sharing='independent', **kw):
    space = ENTANGLED_SPACE if weight_sharing == 'entangled' else TINY_SPACE
    args = dict(supernet=dict(space=space, depths=[1, 2, 1, 1, 1], num_classes=10,
                              weight_sharing=weight_sharing),
                sampling='even', pool_size=4, slice_size=3, warmup_iters=0)
    args.update(kw)
    return CreamSearch(**args).train()


def _fill_board(model, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        path = model.sample_path(i)
        model.board.insert(float(10 * i), model.cost.flops(path), model.cost.params(path),
                           path, torch.randn(model.slice_size, 3, 32, 32, generator=g) * 2 + 1,
                           torch.softmax(torch.randn(model.slice_size, 10, generator=g), 1), i)


def _wrappers(model, lr=0.1, meta_lr=0.1, wrapper=OptimWrapper, **kw):
    return OptimWrapperDict(
        supernet=wrapper(optimizer=torch.optim.SGD(model.supernet.parameters(), lr=lr), **kw),
        meta=wrapper(optimizer=torch.optim.SGD(model.meta.parameters(), lr=meta_lr), **kw))


def _batch(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(10, (n,), generator=g)


# -- 1. sampling and the look-ahead ---------------------------------------------
def test_released_sampling_is_uniform_whatever_pre_prob_says():
    released = _model(sampling='released', pre_prob=(1., 0., 0.))
    assert {op for i in range(40) for ops in released.sample_path(i) for op in ops} == {0, 1, 2}
    configured = _model(sampling='pre_prob', pre_prob=(1., 0., 0.))
    assert {op for i in range(40) for ops in configured.sample_path(i) for op in ops} == {0}
    assert CreamSearch.__init__.__defaults__[0] == 'released'


@pytest.mark.parametrize('lookahead_lr, moves', [('meta', False), ('student', True)])
def test_the_lookahead_takes_the_chosen_learning_rate(lookahead_lr, moves):
    """With the meta network's lr at 0, the released code's look-ahead is no
    step at all, so its hypergradient is 0; the student's lr makes one."""
    torch.manual_seed(0)
    model = _model(lookahead_lr=lookahead_lr)
    _fill_board(model)
    wrappers = _wrappers(model, lr=0.5, meta_lr=0.)
    meta_grads = []
    model.meta.fc.weight.register_hook(lambda g: meta_grads.append(g.clone()))
    model.meta_update(*_batch(), model.sample_path(0), wrappers)
    assert (float(meta_grads[-1].abs().max()) > 1e-8) == moves


def test_meta_validation_loss_is_label_smoothed_and_leaves_bn_statistics_alone():
    torch.manual_seed(0)
    model = _model(label_smoothing=0.1)
    _fill_board(model)
    inputs, labels = _batch()
    path = model.sample_path(0)
    s = model.slice_size
    with torch.no_grad(), bn_stats_frozen(model._batch_norms):
        logits = model.supernet(inputs[s:2 * s], path)
    expected = F.cross_entropy(logits, labels[s:2 * s], label_smoothing=0.1)
    buffers = {k: v.clone() for k, v in model.supernet.named_buffers()}
    # A student lr of 0: the look-ahead weights are the weights.
    loss = model.meta_update(inputs, labels, path, _wrappers(model, lr=0.))
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    for name, value in model.supernet.named_buffers():
        assert torch.equal(value, buffers[name]), name


# -- 2. batched teacher scores as the official per-entry ones --------------------
@pytest.mark.parametrize('weight_sharing', ['independent', 'entangled'])
def test_batched_match_scores_equal_one_forward_per_entry(weight_sharing):
    torch.manual_seed(0)
    model = _model(weight_sharing)
    _fill_board(model)
    path = model.sample_path(7)
    with torch.no_grad():
        batched = model.match_scores(path)
        separate = []
        for i in range(len(model.board)):
            with bn_stats_frozen(model._batch_norms):
                student = F.softmax(model.supernet(model.board.inputs[i], path), dim=1)
            separate.append(model.meta((student - model.board.soft_outputs[i])[None])[0])
        separate = torch.stack(separate)
        # What one forward of all entries with shared batch statistics gives.
        with bn_stats_frozen(model._batch_norms):
            shared = model.meta(
                F.softmax(model.supernet(model.board.inputs[:4].flatten(0, 1), path), dim=1)
                .view(4, model.slice_size, -1) - model.board.soft_outputs[:4])
    torch.testing.assert_close(batched, separate, rtol=0, atol=1e-5)
    assert int(batched.argmax()) == int(separate.argmax())
    assert model.select_teacher(path)[1] == model.board.path(int(separate.argmax()))
    assert (shared - separate).abs().max() > 1e-3  # so the test can tell them apart


# -- 4. mixed precision and clipping through the wrappers ------------------------
def _amp_wrappers(model, monkeypatch, lr, meta_lr):
    """mmengine's AmpOptimWrapper on the CPU: it refuses to be built without a
    GPU, so the check is patched out; its GradScaler is torch's CPU one at
    mmengine's initial scale, and its autocast bf16 (mmengine's CPU dtype)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    wrappers = _wrappers(model, lr, meta_lr, AmpOptimWrapper, dtype='bfloat16')
    for wrapper in wrappers.values():
        wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.**16)
    return wrappers


def test_meta_update_under_amp_matches_fp32(monkeypatch):
    torch.manual_seed(0)
    fp32 = _model()
    _fill_board(fp32)
    amp = copy.deepcopy(fp32)
    inputs, labels = _batch()
    path = fp32.sample_path(0)
    updates = []
    for model, wrappers in ((fp32, _wrappers(fp32, 0.5, 10.)),
                            (amp, _amp_wrappers(amp, monkeypatch, 0.5, 10.))):
        before = [p.clone() for p in [*model.meta.parameters(), *model.supernet.parameters()]]
        model.meta_update(inputs, labels, path, wrappers)
        after = [*model.meta.parameters(), *model.supernet.parameters()]
        updates.append(torch.cat([(a - b).flatten() for a, b in zip(after, before)]))
        if model is amp:
            assert wrappers['meta'].loss_scaler.get_scale() == 2.**16  # no inf, no skip
    # The meta update runs in full precision; unscaled gradients under the
    # wrapper's step would have given 2^-16 of the update.
    meta = model.meta.fc.weight.numel() + 1
    for part in (slice(0, meta), slice(meta, None)):
        assert updates[0][part].norm() > 1e-4
        torch.testing.assert_close(updates[1][part], updates[0][part], rtol=1e-5, atol=1e-7)


def test_meta_update_clips_as_the_config_says():
    torch.manual_seed(0)
    model = _model()
    _fill_board(model)
    inputs, labels = _batch()
    path = model.sample_path(0)
    model.supernet.classifier.weight.data.mul_(5.)  # sharper logits, larger gradients
    student = [p for _, p in model._path_named_parameters(path)]
    # The student gradient of the meta update, by hand.
    reference = copy.deepcopy(model)
    reference.meta_update(inputs, labels, path, _wrappers(reference, lr=1., meta_lr=0.))
    with torch.no_grad():
        ref_step = torch.cat([(b - a).flatten() for a, b in zip(
            student, [p for _, p in reference._path_named_parameters(path)])])
    assert ref_step.norm() > 1.  # a hard-coded clip at 1 would have cut it
    wrappers = _wrappers(model, lr=1., meta_lr=1., clip_grad=dict(max_norm=1e-3))
    before = [p.clone() for p in [*model.meta.parameters(), *student]]
    model.meta_update(inputs, labels, path, wrappers)
    with torch.no_grad():
        meta_step = torch.cat([(a - b).flatten()
                               for a, b in zip(model.meta.parameters(), before)])
        student_step = torch.cat([(a - b).flatten() for a, b in zip(student, before[2:])])
    assert float(meta_step.norm()) == pytest.approx(1e-3, rel=1e-3)
    assert float(student_step.norm()) == pytest.approx(1e-3, rel=1e-3)


def test_train_step_runs_under_the_wrappers_autocast(monkeypatch):
    model = _model()
    _fill_board(model)
    dtypes = []
    model.supernet.conv_stem.register_forward_hook(
        lambda m, i, o: dtypes.append(o.dtype))
    inputs, labels = _batch()
    log = model.train_step(dict(inputs=inputs, data_samples=labels.tolist()),
                           _amp_wrappers(model, monkeypatch, 0.1, 0.1))
    assert torch.isfinite(log['loss']) and 'kd_loss' in log
    assert set(dtypes) == {torch.bfloat16}


@pytest.mark.slow
def test_amp_without_a_gpu_stops_with_a_clear_message(tmp_path, run_tool):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    run = run_tool('tools/search_backbone.py', 'configs/cream/cream-search_fashion-mnist.py',
                   '--amp', '--work-dir', str(tmp_path), check=False, timeout=300)
    assert run.returncode != 0 and 'Traceback' not in run.stderr
    assert "--amp: mmengine's AmpOptimWrapper trains on a GPU" in run.stderr


def test_amp_on_a_gpu_keeps_a_search_config_without_a_test_loop_valid(monkeypatch):
    """Seen on an H200: --amp gave the search config a test_cfg, which
    mmengine refuses without a test_dataloader."""
    from types import SimpleNamespace

    from cream_det import cli
    monkeypatch.setattr(cli, 'get_device', lambda: 'cuda')
    root = osp.join(osp.dirname(__file__), '..', '..')
    args = SimpleNamespace(config=osp.join(root, 'configs', 'cream',
                                           'cream-search_fashion-mnist.py'),
                           cfg_options=None, launcher='none', work_dir=None, resume=None,
                           amp=True)
    cfg = cli.config_from_args(args)
    assert cfg.optim_wrapper.supernet.type == cfg.optim_wrapper.meta.type == 'AmpOptimWrapper'
    assert cfg.get('test_cfg') is None and cfg.get('test_dataloader') is None
    args.config = osp.join(root, 'configs', 'cream', 'cream_fashion-mnist.py')
    assert cli.config_from_args(args).test_cfg.fp16 is True


# -- 6. a budget that binds -------------------------------------------------------
def test_every_drawn_path_lies_within_the_constraint():
    model = _model(constraint=dict(flops=(0.25, 0.26)))
    flops = [model.cost.flops(model.sample_path(i)) / 1e6 for i in range(50)]
    assert all(0.25 <= f <= 0.26 for f in flops)
    free = _model()
    assert not all(0.25 <= model.cost.flops(free.sample_path(i)) / 1e6 <= 0.26
                   for i in range(50))
    assert model.sample_path(3) == model.sample_path(3)  # still seeded


def test_constraints_the_space_cannot_meet_are_refused():
    from cream_det.errors import ConfigError
    with pytest.raises(ConfigError, match=r'no path of this supernet lies within it; its paths '
                       r'span 0\.24-0\.31 MFLOPs'):
        _model(constraint=dict(flops=(0.5, 0.6)))
    with pytest.raises(ConfigError, match=r'draws a path within it 0 times in 2000'):
        _model(sampling='pre_prob', pre_prob=(0., 0., 1.), constraint=dict(flops=(0.24, 0.25)))
    with pytest.raises(ConfigError, match=r"constraint=\{'latency': 1\}: expected keys"):
        _model(constraint=dict(latency=1))
    with pytest.raises(ConfigError, match=r'fixed_arch \(0\.27 MFLOPs\) lies outside the '
                       r'constraint 0\.25-0\.26'):
        _model(sampling='fixed', constraint=dict(flops=(0.25, 0.26)), fixed_arch=dict(
            space=TINY_SPACE, resolution=32, stages=[['k5e2'], ['k5e2', 'k5e2'], ['k5e2'],
                                                     ['k5e2'], ['k5e2']]))


def test_the_choice_keeps_to_the_constraint_of_the_config():
    """A board filled under another budget, chosen from under this one: the
    official choice is the best entry the constraint admits."""
    from cream_det.selection import choose_arch
    model = _model(constraint=dict(flops=(0.2, 0.27)))
    dearest = [[max(range(3), key=layer.__getitem__) for layer in stage]
               for stage in model.cost.layer_flops]
    paths = [dearest] + [model.sample_path(i) for i in range(3)]
    for i, path in enumerate(paths):
        model.board.insert(40. - 10 * i, model.cost.flops(path), model.cost.params(path), path,
                           torch.zeros(3, 3, 32, 32), torch.zeros(3, 10), i)
    assert model.board.path(0) == dearest and not model.admits(dearest)
    arch, _ = choose_arch(model)
    assert arch.meta['board_entry'] == 1
    assert 0.2 <= arch.meta['flops'] / 1e6 <= 0.27
    assert arch.meta['constraint'] == '0.2-0.27 MFLOPs'


def test_spos_mode_trains_with_ce_alone_and_keeps_the_board_as_a_record():
    torch.manual_seed(0)
    model = _model(distill=False, update_iter=2)
    meta_before = [p.clone() for p in model.meta.parameters()]
    inputs, labels = _batch(8)
    data = dict(inputs=inputs, data_samples=labels.tolist())
    logs = [model.train_step(data, _wrappers(model)) for _ in range(5)]
    assert len(model.board) > 0
    assert all('kd_loss' not in log and 'meta_loss' not in log for log in logs)
    assert all(torch.equal(a, b) for a, b in zip(meta_before, model.meta.parameters()))
    # The same paths as Cream's with the same seed.
    assert [model.sample_path(i) for i in range(5)] == [_model().sample_path(i) for i in range(5)]


def test_weight_decay_and_momentum_move_the_sampled_path_only():
    """DEVIATION kept: officially every op ever sampled goes on decaying."""
    torch.manual_seed(0)
    model = _model()
    wrappers = OptimWrapperDict(
        supernet=OptimWrapper(torch.optim.SGD(model.supernet.parameters(), lr=0.1,
                                              momentum=0.9, weight_decay=0.1)),
        meta=OptimWrapper(torch.optim.SGD(model.meta.parameters(), lr=0.1)))
    inputs, labels = _batch(8)
    data = dict(inputs=inputs, data_samples=labels.tolist())
    model.train_step(data, wrappers)  # iteration 0 trains path 0, with momentum
    before = {n: p.clone() for n, p in model.supernet.named_parameters()}
    model.train_step(data, wrappers)  # iteration 1 trains path 1
    on_path = {id(p) for p in model.supernet.path_parameters(model.sample_path(1))}
    moved = {n for n, p in model.supernet.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {n for n, p in model.supernet.named_parameters() if id(p) in on_path}
    assert model.sample_path(0) != model.sample_path(1)
