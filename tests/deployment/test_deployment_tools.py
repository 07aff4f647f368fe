"""The deployment tools as a user types them, on the embedded RetinaNet
config over the generated detection set: pytorch2onnx.py exports and prints
the equality figures; deployment/test.py gives tools/test.py's bbox mAP in
both runtimes; bad input is one line; the main job's deployment step."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

from cream_det.experiments.main_job import equality_line

EMBEDDED = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'retinanet',
                    'retinanet_cream-searched_fpn_fashion-det.py')


@pytest.fixture(scope='module')
def detector_files(tmp_path_factory, detection_set):
    """The embedded config (cream-14, no pretraining) on the small generated
    set, and a checkpoint of it with random classification weights and the
    initial box regression (the anchors themselves): at score 0, its hundred
    boxes an image hit some objects by chance (a mAP above 0)."""
    from mmengine.registry import MODELS, init_default_scope
    work_dir = tmp_path_factory.mktemp('deploy')
    cfg = Config.fromfile(EMBEDDED)
    cfg.model.backbone.update(arch='cream-14', init_cfg=None)
    cfg.model.test_cfg.score_thr = 0.
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = detection_set + '/'
        loader.num_workers, loader.persistent_workers = 0, False
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = osp.join(detection_set, 'annotations', 'instances_val.json')
    config = str(work_dir / 'retinanet.py')
    cfg.dump(config)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        # Scores spread wide: no two boxes tie at the cut of max_per_img.
        model.bbox_head.retina_cls.weight.normal_(0, 1.)
    checkpoint = str(work_dir / 'retinanet.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return config, checkpoint, work_dir


def bbox_maps(output: str) -> list:
    """bbox mAP, at IoU 0.5 and at 0.75, as a test tool printed them."""
    return [float(re.search(rf'coco/bbox_mAP{key}:? ([0-9.]+)', output).group(1))
            for key in ('', '_50', '_75')]


@pytest.mark.slow
def test_export_then_map_in_both_runtimes_equals_pytorchs(detector_files, run_tool):
    config, checkpoint, work_dir = detector_files
    onnx_file = str(work_dir / 'retinanet.onnx')
    exported = run_tool('tools/deployment/pytorch2onnx.py', config, checkpoint, '--out',
                        onnx_file).stdout
    assert 'detector, input 1x3x160x160, outputs dets, labels' in exported
    matched = re.search(r'(\d+)/(\d+) PyTorch boxes matched in ONNX, (\d+)/(\d+) ONNX', exported)
    assert matched and int(matched.group(2)) > 0, exported
    assert matched.group(1) == matched.group(2) and matched.group(3) == matched.group(4)
    log = work_dir / 'export.log'  # what the main job reads back from the tool's output
    log.write_text(exported)
    assert matched.group(0) in equality_line(str(log))
    pytorch = run_tool('tools/test.py', config, checkpoint, '--work-dir', str(work_dir / 't'))
    expected = bbox_maps(pytorch.stdout + pytorch.stderr)
    assert expected[1] > 0
    for backend in ('onnxruntime', 'openvino'):
        out = run_tool('tools/deployment/test.py', config, onnx_file, '--backend', backend).stdout
        assert f'in {backend} ' in out
        assert max(abs(a - b) for a, b in zip(bbox_maps(out), expected)) <= 0.002, \
            (backend, out, expected)


@pytest.mark.slow
def test_tools_bad_input_is_one_line(detector_files, run_tool, tmp_path):
    config, checkpoint, work_dir = detector_files
    onnx_file = str(tmp_path / 'retinanet.onnx')
    run_tool('tools/deployment/pytorch2onnx.py', config, checkpoint, '--out', onnx_file)
    other = Config.fromfile(config)
    other.model.bbox_head.num_classes = 5
    other_config = str(tmp_path / 'other.py')
    other.dump(other_config)
    result = run_tool('tools/deployment/test.py', other_config, onnx_file, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: ONNX file {onnx_file} predicts 10 classes, the config 5: export it from '
        'this config')
    other = Config.fromfile(config)
    other.model.bbox_head.type = 'FreeAnchorRetinaHead'
    other.dump(other_config)
    result = run_tool('tools/deployment/pytorch2onnx.py', other_config, '--out',
                      str(tmp_path / 'x.onnx'), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        'error: the ONNX export does not know the detector head FreeAnchorRetinaHead: it '
        'knows RetinaHead, FCOSHead (RetinaNet, FCOS)')


def test_main_job_deployment_step(detector_files):
    """The main job's step on the tiny detector: the file exported and
    checked, and the three latencies measured in turns."""
    from cream_det.deployment.pytorch2onnx import pytorch2onnx
    from cream_det.experiments.main_job import deployed_latency
    config, checkpoint, work_dir = detector_files
    onnx_file = str(work_dir / 'step.onnx')
    result = pytorch2onnx(Config.fromfile(config), checkpoint, onnx_file, check_images=1)
    assert result['check']['equal'] and result['check']['torch_boxes'] > 0
    photo = osp.join(Config.fromfile(config).test_dataloader.dataset.data_root, 'val',
                     '000001.jpg')
    latency = deployed_latency(config, checkpoint, onnx_file, photo, rounds=3)
    assert set(latency) == {'PyTorch', 'onnxruntime', 'openvino'}
    for figures in latency.values():
        assert 0 < figures['min_ms'] <= figures['ms'] <= figures['max_ms']
