"""Cream backbones in mmdet: every config builds and runs, the neck check,
tools/train.py and tools/test.py on the generated set, mmdet's inference APIs."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from skimage import data as skimage_data

import cream_det  # noqa: F401
from cream_det.detection import backbone_channels, check_neck_channels

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'retinanet', '*.py'))
                 + glob.glob(osp.join(ROOT, 'configs', 'fcos', '*.py')))
DEMO = osp.join(ROOT, 'configs', 'retinanet', 'retinanet_cream-searched_fpn_fashion-det.py')


def test_configs_cover_the_sizes_and_detectors():
    names = {osp.basename(c) for c in CONFIGS}
    for size in (114, 287, 481, 604):
        assert f'retinanet_cream-{size}_fpn_1x_coco.py' in names
        assert f'fcos_cream-{size}_fpn_gn-head_1x_coco.py' in names
    assert 'retinanet_cream-searched_fpn_1x_coco.py' in names


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_every_config_builds_and_runs_one_forward(config, tmp_path):
    cfg = Config.fromfile(config)
    assert cfg.custom_imports.imports == ['cream_det']
    backbone = cfg.model.backbone
    assert backbone.type == 'CreamNet' and backbone.init_cfg.type == 'Pretrained'
    if not (backbone.arch or '').startswith('cream-'):  # the searched templates' checkpoint arch
        backbone.arch = 'cream-14'
    check_neck_channels(cfg.model)
    backbone.init_cfg = None  # no release file here
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(cfg.model).eval()
    model.init_weights()
    image = torch.randint(0, 255, (3, 128, 160), dtype=torch.uint8)
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_shape=(128, 160), ori_shape=(128, 160),
                                         scale_factor=(1., 1.)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
        features = model.extract_feat(data['inputs'])
        results = model(**data, mode='predict')
    assert len(features) == 5 and features[0].shape[-2:] == (16, 20)  # P3 at stride 8
    assert results[0].pred_instances.bboxes.shape[1] == 4


def test_neck_channels_are_derived_and_checked():
    assert backbone_channels('cream', (2, 4, 6)) == [40, 96, 320]
    assert backbone_channels('cream', (1, 3, 5)) == [24, 80, 192]
    with pytest.raises(ValueError, match=r'out_indices=\[2, 7\]: \[7\] do not exist'):
        backbone_channels('cream', (2, 7))
    cfg = Config.fromfile(CONFIGS[0])
    cfg.model.backbone.out_indices = (1, 3, 5)
    with pytest.raises(ValueError) as err:
        check_neck_channels(cfg.model)
    assert '[40, 96, 320]' in str(err.value) and '[24, 80, 192]' in str(err.value)


@pytest.mark.parametrize('config', sorted(glob.glob(
    osp.join(ROOT, 'configs', 'cream_det_search', '*.py'))), ids=osp.basename)
def test_the_neck_check_reaches_the_supernet_inside_a_detection_search(config):
    cfg = Config.fromfile(config)
    check_neck_channels(cfg.model)  # the configs as shipped fit
    cfg.model.detector.backbone.out_indices = (1, 3, 5)
    with pytest.raises(ValueError) as err:
        check_neck_channels(cfg.model)
    assert "CreamSuperNet space 'cream'" in str(err.value)
    assert 'set model.detector.neck.in_channels=[24, 80, 192]' in str(err.value)


def _demo_cfg(work_dir, data_root, epochs=1):
    cfg = Config.fromfile(DEMO)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.arch = 'cream-14'
    cfg.model.backbone.init_cfg = None
    # A barely trained head scores below mmdet's 0.05; CocoMetric skips an
    # empty result, and these tests want boxes to compare.
    cfg.model.test_cfg.score_thr = 0.
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root) + '/'
        loader.num_workers, loader.persistent_workers = 0, False
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = osp.join(data_root, 'annotations', 'instances_val.json')
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    return cfg


@pytest.fixture(scope='module')
def trained_detector(tmp_path_factory, detection_set):
    work_dir = tmp_path_factory.mktemp('det')
    cfg = _demo_cfg(work_dir, detection_set)
    Runner.from_cfg(cfg).train()
    config = str(work_dir / 'demo.py')
    cfg.dump(config)
    return config, str(work_dir / 'epoch_1.pth'), work_dir


@pytest.mark.slow
def test_training_reports_coco_map(trained_detector):
    _, _, work_dir = trained_detector
    log = open(next(work_dir.glob('*/*.log'))).read()
    assert 'coco/bbox_mAP: ' in log and 'coco/bbox_mAP_50: ' in log


@pytest.mark.slow
def test_inference_apis_on_a_real_photo_and_reload_gives_same_detections(trained_detector):
    from mmdet.apis import DetInferencer, inference_detector, init_detector
    config, checkpoint, _ = trained_detector
    photo = np.ascontiguousarray(skimage_data.coffee()[:, :, ::-1])  # mmdet reads BGR
    model = init_detector(config, checkpoint, device='cpu')
    result = inference_detector(model, photo)
    instances = result.pred_instances
    assert instances.bboxes.shape == (len(instances.scores), 4)
    assert len(instances.labels) == len(instances.scores) > 0
    assert model.dataset_meta['classes'] == cream_det.datasets.FASHION_MNIST_CLASSES
    again = inference_detector(init_detector(config, checkpoint, device='cpu'), photo)
    torch.testing.assert_close(again.pred_instances.bboxes, instances.bboxes)
    torch.testing.assert_close(again.pred_instances.scores, instances.scores)

    inferencer = DetInferencer(model=config, weights=checkpoint, device='cpu')
    output = inferencer(photo, return_datasamples=False, no_save_vis=True)
    prediction = output['predictions'][0]
    assert set(prediction) >= {'labels', 'scores', 'bboxes'}
    np.testing.assert_allclose(prediction['scores'][:5], instances.scores[:5].numpy(),
                               rtol=1e-4)


@pytest.mark.slow
def test_test_tool_reports_map_and_saves_pictures(trained_detector, tmp_path, run_tool):
    config, checkpoint, _ = trained_detector
    result = run_tool('tools/test.py', config, checkpoint, '--work-dir', str(tmp_path),
                      '--show-dir', 'shown')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'coco/bbox_mAP: ' in result.stdout + result.stderr
    assert len(list(tmp_path.glob('*/shown/*.jpg'))) == 8


@pytest.mark.slow
def test_tools_clear_errors_for_bad_detection_configs(trained_detector, tmp_path, run_tool):
    config, _, _ = trained_detector
    neck = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options',
                    'model.backbone.out_indices=[1,3,5]', check=False)
    assert neck.returncode != 0 and 'Traceback' not in neck.stderr
    assert '[40, 96, 320]' in neck.stderr and '[24, 80, 192]' in neck.stderr
    indices = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options',
                       'model.backbone.out_indices=[2,4,9]', 'model.neck.in_channels=[40,96,320]',
                       check=False)
    assert indices.returncode != 0 and 'Traceback' not in indices.stderr
    assert '[9] do not exist' in indices.stderr
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', prefix='backbone.',
                                       checkpoint='/nonexistent/backbone.pth')
    cfg.dump(tmp_path / 'pretrained.py')
    missing = run_tool('tools/train.py', str(tmp_path / 'pretrained.py'), '--work-dir',
                       str(tmp_path), check=False)
    assert missing.returncode != 0 and 'Traceback' not in missing.stderr
    assert '/nonexistent/backbone.pth' in missing.stderr


@pytest.mark.slow
def test_backbone_from_a_search_checkpoint(tmp_path, run_tool):
    """A supernet path with the weights it inherits from the search serves as
    the detection backbone."""
    from search_utils import tiny_search_cfg
    from cream_det import CreamNet
    cfg = tiny_search_cfg(tmp_path, max_iters=6)
    Runner.from_cfg(cfg).train()
    config = str(tmp_path / 'search.py')
    cfg.dump(config)
    out = tmp_path / 'backbone.pth'
    result = run_tool('tools/model_converters/export_backbone.py', config,
                      str(tmp_path / 'iter_6.pth'), str(out), '--arch', str(tmp_path / 'arch.json'))
    assert result.returncode == 0, result.stderr[-3000:]
    backbone = CreamNet(str(tmp_path / 'arch.json'), out_indices=(2, 4, 6), init_cfg=dict(
        type='Pretrained', checkpoint=str(out), prefix='backbone.'))
    backbone.init_weights()
    search = torch.load(tmp_path / 'iter_6.pth', weights_only=False)['state_dict']
    torch.testing.assert_close(backbone.conv_stem.weight, search['supernet.conv_stem.weight'])
    outputs = backbone.eval()(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outputs] == backbone.out_channels


def _detector_cost():
    from mmdet.registry import MODELS
    from cream_det.cost import detector_cost
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'retinanet',
                                   'retinanet_cream-114_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    detector = MODELS.build(cfg.model)
    return detector, detector_cost(detector, 128, 160)


def test_detector_cost_counts_backbone_neck_and_head():
    from cream_det.cost import count_flops
    detector, cost = _detector_cost()
    backbone = count_flops(detector.backbone.eval(), torch.zeros(1, 3, 128, 160))
    assert cost['params'] == sum(p.numel() for p in detector.parameters())
    assert cost['flops'] > 2 * backbone > 0  # RetinaNet's head outweighs a small backbone


@pytest.mark.slow
def test_get_flops_tool_counts_a_detector(run_tool):
    _, cost = _detector_cost()
    result = run_tool('tools/analysis_tools/get_flops.py',
                      osp.join(ROOT, 'configs', 'retinanet', 'retinanet_cream-114_fpn_1x_coco.py'),
                      '--shape', '128', '160')
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'{cost["flops"] / 1e9:.2f} GFLOPs' in result.stdout
