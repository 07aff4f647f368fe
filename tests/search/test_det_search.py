"""The detection-aware search (CreamDetSearch): real mmdet detectors with a
tiny supernet backbone, real mmengine optim wrappers, 64x64 images."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config, ConfigDict
from mmengine.optim import OptimWrapper

from cream_det.search import CreamDetSearch, CreamSearch, channel_wise_divergence
from det_search_utils import (BACKBONE, CONSTRAINT, DEPTHS, FCOS, HELD_OUT, RETINANET,
                              tiny_det_search_cfg, with_arch_hook)
from search_utils import (TINY_SPACE, assert_resume_gives_the_straight_run,
                          assert_two_ranks_stay_identical)

ROOT = osp.join(osp.dirname(__file__), '..', '..')



def _search(detector=RETINANET, **kw):
    args = dict(detector=ConfigDict(copy.deepcopy(detector)), sampling='even', pool_size=3,
                warmup_iters=2, constraint=CONSTRAINT)
    args.update(kw)
    torch.manual_seed(0)
    return CreamDetSearch(**args).train()


def _wrapper(model):
    return OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))


def _batch(seed=0):
    np.random.seed(seed)
    return demo_mm_inputs(batch_size=2, image_shapes=[(3, 64, 64)] * 2, num_items=[2, 3],
                          num_classes=3)


def _run(model, wrapper, iterations, batches=None):
    return [model.train_step(_batch(int(model.iteration)) if batches is None else batches,
                             wrapper) for _ in range(iterations)]


@pytest.mark.parametrize('detector', [RETINANET, FCOS], ids=['retinanet', 'fcos'])
def test_the_board_fills_by_the_official_rule_on_the_detection_loss(detector):
    model = _search(detector)
    logs = _run(model, _wrapper(model), 6)
    assert all('kd_loss' not in log for log in logs[:3])  # warm-up, then an empty board
    assert all('kd_loss' in log and log['match_weight'] == 0.5 for log in logs[3:])
    # The board again, from the logged losses and the paths' FLOPs by the rule.
    from cream_det.search import PrioritizedBoard
    net = model.supernet
    replay = PrioritizedBoard(3, net.space, net.depths, net.resolution, 0, 0, acc_gap=0.)
    for i, log in enumerate(logs[2:], start=2):
        path = model.sample_path(i)
        replay.insert(-float(log['det_loss']), model.cost.flops(path), model.cost.params(path),
                      path, None, None, i)
    assert len(model.board) == 3
    for name, buffer in replay.named_buffers():
        assert torch.equal(buffer, model.board.get_buffer(name)), name
    entries = model.board.entries()
    assert [e['score'] for e in entries] == sorted((e['score'] for e in entries), reverse=True)
    assert all(0.25 <= e['flops'] / 1e6 <= 0.275 for e in entries)
    assert logs[-1]['board_best'] == entries[0]['score']
    assert all(torch.isfinite(log['loss']) for log in logs)


def test_a_latency_constraint_bounds_the_paths_and_prices_the_board(tmp_path):
    """constraint=dict(latency_ms=..., table=...) as in the classification
    search: every drawn path within it, and the board's entries and the
    chosen arch carry their latency on the table's device."""
    from cream_det.latency import LatencyTable
    from cream_det.selection import choose_arch
    from latency_utils import _fake_table, _middle, _tiny
    supernet = _tiny()
    data = _fake_table(supernet)  # a fake clock: 1 us per parameter
    table, table_file = LatencyTable.from_dict(data), str(tmp_path / 'table.json')
    table.save(table_file)
    low, high = _middle(supernet, data)
    model = _search(constraint=dict(latency_ms=(low, high), table=table_file))
    assert all(low <= table.latency_ms(model.sample_path(i)) <= high for i in range(30))
    _run(model, _wrapper(model), 5)
    arch, entries = choose_arch(model, 'official')
    assert len(entries) == 3
    for i, entry in enumerate(entries):
        assert entry['latency_ms'] == table.latency_ms(model.board.path(i))
        assert entry['latency_device'] == table.device
    assert arch.meta['latency_ms'] == entries[0]['latency_ms']
    assert arch.meta['constraint'] == f'{low:g}-{high:g} ms on {table.device}'


def test_paths_are_the_classification_searchs_and_the_teacher_is_the_board_top():
    model = _search(seed=3)
    classification = CreamSearch(
        supernet=dict(space=TINY_SPACE, depths=DEPTHS, resolution=32, num_classes=10),
        sampling='even', seed=3, constraint=CONSTRAINT)
    assert [model.sample_path(i) for i in range(10)] == \
        [classification.sample_path(i) for i in range(10)]
    assert model.cost.flops_range() == classification.cost.flops_range()
    wrapper = _wrapper(model)
    _run(model, wrapper, 4)
    ran = []
    model.supernet.register_forward_pre_hook(lambda m, args: ran.append(m.path))
    top = model.board.path(0)
    _run(model, wrapper, 1)
    assert ran == [top, model.sample_path(4)]  # the teacher's forward, then the student's


def _bn_buffers(module):
    return {k: v.clone() for k, v in module.named_buffers()
            if 'running' in k or 'num_batches' in k}


def test_the_teacher_forward_leaves_every_bn_buffer_alone():
    model = _search()
    wrapper = _wrapper(model)
    _run(model, wrapper, 4)
    student, teacher = model.sample_path(4), model.board.path(0)
    net = model.supernet
    on_student = {id(b) for m in net.path_modules(student) for b in m.buffers()}
    teacher_only = {k for k, b in net.named_buffers() if id(b) not in on_student
                    and any(b is t for m in net.path_modules(teacher) for t in m.buffers())}
    assert any('running_mean' in k for k in teacher_only)
    before = _bn_buffers(net)
    _run(model, wrapper, 1)
    after = _bn_buffers(net)
    for key in teacher_only:
        assert torch.equal(after[key], before[key]), key
    assert any(not torch.equal(after[k], before[k]) for k in after if k not in teacher_only)
    # The teacher's forward alone moves no buffer at all.
    model.supernet.set_path(teacher)
    from cream_det.models.batch_norm import bn_stats_frozen
    before = _bn_buffers(model)
    with torch.no_grad(), bn_stats_frozen(model._batch_norms):
        model.detector.extract_feat(model.data_preprocessor(_batch(), True)['inputs'])
    for key, value in _bn_buffers(model).items():
        assert torch.equal(value, before[key]), key


def test_cwd_is_zero_for_equal_features_and_reaches_the_student_path_only():
    torch.manual_seed(0)
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)]
    assert float(channel_wise_divergence(feats, [f.clone() for f in feats])) == 0.
    other = [f + torch.randn_like(f) for f in feats]
    assert float(channel_wise_divergence(feats, other)) > 0.
    assert float(channel_wise_divergence(feats, other, tau=4.)) > 0.
    # Invariant to a shift of a channel's logits, as a softmax over positions is.
    shifted = [f + torch.randn(2, 4, 1, 1) for f in feats]
    assert float(channel_wise_divergence(feats, shifted)) < 1e-5

    model = _search()
    student, teacher = model.sample_path(0), model.sample_path(1)
    assert student != teacher
    inputs = model.data_preprocessor(_batch(), True)['inputs']
    model.supernet.set_path(teacher)
    with torch.no_grad():
        teacher_feats = model.detector.extract_feat(inputs)
    model.supernet.set_path(student)
    loss = channel_wise_divergence(model.detector.extract_feat(inputs), teacher_feats)
    assert float(loss.detach()) > 0
    loss.backward()
    net = model.supernet
    path_params = {id(p) for p in net.path_parameters(student)}
    with_grad = {n for n, p in net.named_parameters()
                 if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and all(id(net.get_parameter(n)) in path_params for n in with_grad)
    teacher_only = {id(p) for p in net.path_parameters(teacher)} - path_params
    assert teacher_only
    assert all(p.grad is None for p in net.parameters() if id(p) in teacher_only)


def test_resume_from_a_state_dict_continues_the_straight_run():
    straight = _search()
    wrapper = _wrapper(straight)
    _run(straight, wrapper, 6)

    first = _search()
    wrapper = _wrapper(first)
    _run(first, wrapper, 3)
    state, optim_state = copy.deepcopy(first.state_dict()), copy.deepcopy(wrapper.state_dict())
    resumed = _search(seed=0)
    torch.manual_seed(123)  # nothing of the first half's random state survives
    resumed.load_state_dict(state)
    wrapper = _wrapper(resumed)
    wrapper.load_state_dict(optim_state)
    assert int(resumed.iteration) == 3
    _run(resumed, wrapper, 3)
    assert len(straight.board) == 3
    expected = straight.state_dict()
    for key, value in resumed.state_dict().items():
        if key.startswith('board.') or key == 'iteration':
            assert torch.equal(value, expected[key]), key
        else:
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


def test_forward_runs_the_board_top_for_mmengines_loops():
    model = _search()
    _run(model, _wrapper(model), 3)
    model.eval()
    ran = []
    model.supernet.register_forward_pre_hook(lambda m, args: ran.append(m.path))
    with torch.no_grad():
        results = model.val_step(_batch())
    assert ran == [model.board.path(0)]
    assert len(results) == 2 and 'pred_instances' in results[0]
    data = model.data_preprocessor(_batch(), True)
    model.train()
    assert 'loss_cls' in model(**data, mode='loss')
    assert len(model(data['inputs'], mode='tensor')) == 2  # scores and boxes per level


def test_only_a_supernet_backbone_with_out_indices_and_top1():
    from cream_det.errors import ConfigError
    with pytest.raises(ConfigError, match='backbone is a CreamSuperNet with out_indices'):
        _search(dict(RETINANET, backbone=dict(BACKBONE, out_indices=None)))
    with pytest.raises(ConfigError, match=r"pick_method='meta': expected 'top1'"):
        _search(pick_method='meta')


CONFIG = osp.join(ROOT, 'configs', 'cream_det_search',
                  'retinanet_cream-supernet_fpn_fashion-det.py')


def test_the_embedded_config_builds_and_runs_one_step(detection_set):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner import Runner
    cfg = Config.fromfile(CONFIG)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):  # the runner's
        model = MODELS.build(cfg.model)
    assert isinstance(model, CreamDetSearch) and model.constraint.flops_range == (2.4, 2.8)
    assert model.supernet.init_cfg == dict(
        type='Pretrained', checkpoint='work_dirs/main/search/iter_1000.pth', prefix='supernet.')
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader_cfg.dataset.update(data_root=detection_set, indices=[0, 1])
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        batch = next(iter(Runner.build_dataloader(loader_cfg)))
    log = model.train().train_step(batch, build_optim_wrapper(model, cfg.optim_wrapper))
    assert torch.isfinite(log['loss']) and int(model.iteration) == 1


def test_the_tools_options_on_the_embedded_config(monkeypatch):
    """--amp and --launcher as for the classification search: an
    AmpOptimWrapper (on a GPU), no test loop gained, the searches' own
    model wrapper and no SyncBN (mmengine's would average BN statistics of
    paths the ranks do not share)."""
    from types import SimpleNamespace

    from cream_det import cli
    monkeypatch.setattr(cli, 'get_device', lambda: 'cuda')
    args = SimpleNamespace(config=CONFIG, launcher='none', work_dir=None, resume='auto',
                           amp=True, cfg_options={'model.detector.backbone.init_cfg': None})
    cfg = cli.config_from_args(args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.resume is True
    assert cfg.get('test_cfg') is None and cfg.get('val_cfg') is None
    assert cfg.model_wrapper_cfg.type == 'CreamSearchParallel' and cfg.sync_bn is None


# detection_set (conftest.py): the generated Fashion-MNIST-on-photos set,
# small: the first 16 training images train, the next 4 are held out.



def _fashion_det_loaders(root, num_images=4, size=64):
    """Calibration and held-out loaders over a few images of the set."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from cream_det.datasets import FASHION_DETECTION_METAINFO

    def loader(indices, pipeline):
        with DefaultScope.overwrite_default_scope('mmdet'):
            return Runner.build_dataloader(dict(
                batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(type='CocoDataset', data_root=root,
                             metainfo=FASHION_DETECTION_METAINFO,
                             ann_file='annotations/instances_train.json',
                             data_prefix=dict(img='train/'), indices=indices, test_mode=True,
                             pipeline=pipeline)))
    load = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(size, size)),
            dict(type='LoadAnnotations', with_bbox=True)]
    calib = loader(list(range(num_images)), load + [dict(type='PackDetInputs')])
    held_out = loader(HELD_OUT[:num_images], load + [dict(
        type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                         'scale_factor', 'instances'))])
    return calib, held_out


def test_the_final_choice_scores_the_board_by_recalibrated_held_out_map(tmp_path, detection_set):
    import json

    from mmengine.registry import DefaultScope

    from mmengine.evaluator import Evaluator

    from cream_det import resolve_arch
    from cream_det.selection import PathScorer, choose_arch, recalibrated_metrics, write_choice
    calib, held_out = _fashion_det_loaders(detection_set)
    detector = copy.deepcopy(RETINANET)
    detector['bbox_head'] = dict(detector['bbox_head'], num_classes=10)
    model = _search(detector)
    _run(model, _wrapper(model), 4)
    model.eval()
    before = _bn_buffers(model)
    with DefaultScope.overwrite_default_scope('mmdet'):  # the runner's, in a search
        evaluator = Evaluator(dict(type='CocoMetric', metric='bbox'))
        evaluator.dataset_meta = held_out.dataset.metainfo
        scorer = PathScorer(calib, held_out, 1, evaluator, 'coco/bbox_mAP')
        arch, entries = choose_arch(model, 'held_out', scorer)
    for key, value in _bn_buffers(model).items():  # scored on a copy
        assert torch.equal(value, before[key]), key
    assert len(entries) == len(model.board) >= 2
    assert all({'score', 'held_out', 'flops', 'arch'} <= set(e) for e in entries)
    assert all({'coco/bbox_mAP', 'coco/bbox_mAP_50'} <= set(e['held_out_metrics'])
               for e in entries)
    # the board's score: minus the detection loss, the lowest loss first
    assert [-e['score'] for e in entries] == sorted(-e['score'] for e in entries)
    best = max(range(len(entries)), key=lambda i: entries[i]['held_out'])
    assert arch.meta['board_entry'] == best and str(arch) == entries[best]['arch']
    assert arch.meta['official_choice'] == entries[0]['arch']
    assert arch.meta['constraint'] == '0.25-0.275 MFLOPs'
    write_choice(str(tmp_path), arch, entries, model)
    assert str(resolve_arch(str(tmp_path / 'arch.json'))) == str(arch)
    assert json.load(open(tmp_path / 'board.json'))['entries'] == entries

    # Recalibration: every BN statistic re-estimated from the calibration
    # batches, the same whenever it is computed.
    copy_ = model.path_network(model.board.path(0))
    first = recalibrated_metrics(copy_, calib, held_out, evaluator, 2)
    again = recalibrated_metrics(model.path_network(model.board.path(0)), calib, held_out,
                                 evaluator, 2)
    path_bns = [bn for module in copy_.backbone.path_modules(model.board.path(0))
                for bn in module.modules() if hasattr(bn, 'num_batches_tracked')]
    assert path_bns and all(int(m.num_batches_tracked) == 2 for m in path_bns)
    assert first == again and 'coco/bbox_mAP' in first

    # The held-out batches, read once and replayed, give what streaming gives;
    # a set over the byte limit is streamed.
    from cream_det.selection.scoring import ReplayedLoader
    replayed, streamed = ReplayedLoader(held_out), ReplayedLoader(held_out, max_bytes=0)
    for loader in (replayed, replayed, streamed):
        assert recalibrated_metrics(model.path_network(model.board.path(0)), calib, loader,
                                    evaluator, 2) == first
    assert len(replayed.batches) == len(held_out) and streamed.batches is None



def test_the_hook_writes_the_choice_and_select_arch_redoes_it(tmp_path, detection_set):
    import json

    from mmengine.runner import Runner

    from cream_det.selection.choice import path_estimates, select_from_checkpoint
    cfg = with_arch_hook(tiny_det_search_cfg(tmp_path, detection_set, max_iters=5))
    Runner.from_cfg(cfg).train()
    arch = json.load(open(tmp_path / 'arch.json'))
    board = json.load(open(tmp_path / 'board.json'))['entries']
    assert arch['rule'] == 'held_out' and len(board) == 3
    assert all('held_out' in e and 0.25 <= e['flops'] / 1e6 <= 0.275 for e in board)
    best = max(board, key=lambda e: e['held_out'])
    assert arch['held_out_choice'] == best['arch'] and arch['official_choice'] == board[0]['arch']
    # From the checkpoint, as tools/select_arch.py does: the same choice.
    again = select_from_checkpoint(cfg, str(tmp_path / 'iter_5.pth'), str(tmp_path / 'again'))
    assert str(again) == best['arch'] and again.meta['rule'] == 'held_out'
    assert json.load(open(tmp_path / 'again' / 'board.json'))['entries'] == board
    # Any path scored as the hook scored the board (the benchmark's estimate).
    assert path_estimates(cfg, str(tmp_path / 'iter_5.pth'), [e['path'] for e in board]) \
        == [e['held_out'] for e in board]


def test_the_held_out_loader_packs_the_ground_truth():
    from cream_det.errors import ConfigError
    from cream_det.detection import packing_ground_truth
    loader = dict(dataset=dict(type='CocoDataset', pipeline=[
        dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]))
    packed = packing_ground_truth(loader)
    assert packed['dataset']['pipeline'][-1]['meta_keys'] == (
        'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
        'flip_direction', 'instances')  # mmdet's default keys, and the ground truth
    assert 'meta_keys' not in loader['dataset']['pipeline'][-1]  # a copy
    loader['dataset']['pipeline'][-1]['meta_keys'] = ('img_id', 'instances')
    assert packing_ground_truth(loader) == loader
    with pytest.raises(ConfigError, match='expected dataset.pipeline with a PackDetInputs'):
        packing_ground_truth(dict(dataset=dict(type='ConcatDataset', datasets=[])))


@pytest.mark.slow
def test_two_ranks_stay_identical(tmp_path, detection_set):
    """Each rank trains on its own images; gradients, statistics and the
    board's loss averaged over ranks keep one supernet and one board."""
    assert_two_ranks_stay_identical(tmp_path, 'test_det_search', 'tiny_det_search_cfg',
                                    port=29733, data_root=detection_set, max_iters=6)


@pytest.mark.slow
def test_the_runner_resumes_the_straight_run(tmp_path, detection_set):
    assert_resume_gives_the_straight_run(
        lambda work_dir: tiny_det_search_cfg(work_dir, detection_set, max_iters=6,
                                             checkpoint_interval=3),
        tmp_path, interrupt_at=3)


def test_the_step_runs_under_the_wrappers_autocast(monkeypatch):
    """--amp gives the search an AmpOptimWrapper: the teacher's and the
    student's forwards run in its autocast (mmengine refuses to build one
    without a GPU, so the check is patched out and torch's CPU scaler set)."""
    from mmengine.optim import AmpOptimWrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    model = _search()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3),
                              dtype='bfloat16')
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.**16)
    _run(model, wrapper, 3)
    dtypes = []
    model.supernet.conv_stem.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    log = _run(model, wrapper, 1)[0]
    assert torch.isfinite(log['loss']) and 'kd_loss' in log
    assert dtypes == [torch.bfloat16] * 2  # the teacher's forward, then the student's


@pytest.mark.parametrize('name', ['retinanet_cream-supernet_fpn_coco.py',
                                  'fcos_cream-supernet_fpn_gn-head_coco.py'])
def test_the_coco_configs_build_and_run_one_step(name):
    """The 8-GPU COCO searches: the (0, 600) supernet inside mmdet's RetinaNet
    and FCOS, one step on two generated 128x128 images (no COCO here; the
    ImageNet search checkpoint is not loaded), and the hook's held-out loader
    packs the ground truth that CocoMetric reads."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cream_det_search', name))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert model.supernet.budget == (0, 600) and model.supernet.out_indices == (2, 4, 6)
    assert model.supernet.init_cfg['prefix'] == 'supernet.'
    from mmengine.registry import HOOKS
    hook = HOOKS.build(cfg.custom_hooks[0])  # on val2017, as mmdet's val loader reads it
    assert hook.held_out.dataset.ann_file == 'annotations/instances_val2017.json'
    # the search makes the scorer's loader pack the ground truth
    assert 'instances' in model.held_out_loader(hook.held_out).dataset.pipeline[-1].meta_keys
    np.random.seed(0)
    batch = demo_mm_inputs(batch_size=2, image_shapes=[(3, 128, 128)] * 2, num_items=[2, 3],
                           num_classes=80)
    log = model.train().train_step(batch, build_optim_wrapper(model, cfg.optim_wrapper))
    assert torch.isfinite(log['loss']) and int(model.iteration) == 1
