"""ONNX export: a classifier's logits and a backbone's feature maps equal
PyTorch's in onnxruntime and OpenVINO; RetinaNet and FCOS (a Cream backbone
and mmdet's ResNet) give PyTorch's detections, NMS inside the graph, at a
fixed and at a free batch; the metadata comes back as written; bad input is
one line."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from cream_det.deployment.equality import check_detector, check_tensors, match_share
from cream_det.deployment.export import export_onnx, read_metadata
from cream_det.deployment.loading import check_fits, export_metadata, load_for_export
from cream_det.deployment.runtimes import BACKENDS, open_session
from cream_det.errors import ConfigError
from det_search_utils import FCOS, RETINANET

CREAM_BACKBONE = dict(type='CreamNet', arch='cream-14', out_indices=(2, 4, 6))
RESNET_BACKBONE = dict(type='ResNet', depth=18, base_channels=16, num_stages=4,
                       out_indices=(1, 2, 3), norm_eval=True)
CHANNELS = dict(CreamNet=[40, 96, 320], ResNet=[32, 64, 128])
SIZE = 64


def detector_cfg(detector: dict, backbone: dict, **test_cfg) -> Config:
    """A real RetinaNet or FCOS config (tests/det_search_utils.py) with a
    plain backbone and a 64x64 test pipeline."""
    model = copy.deepcopy(detector)
    model.update(backbone=backbone, neck=dict(model['neck'],
                                               in_channels=CHANNELS[backbone['type']]))
    model['test_cfg'] = {**model['test_cfg'], 'score_thr': 0.05, **test_cfg}
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(SIZE, SIZE),
                                                     keep_ratio=True),
                dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                      'img_shape', 'scale_factor'))]
    return Config(dict(default_scope='mmdet', model=model, test_dataloader=dict(
        dataset=dict(type='CocoDataset', pipeline=pipeline,
                     metainfo=dict(classes=('a', 'b', 'c'))))))


def spread_weights(model, seed=0):
    """Weights that give varied scores and boxes (a fresh head scores every
    anchor about 0.01, below the threshold, and ties)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'bbox_head' in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
        head = model.bbox_head
        (head.retina_cls if hasattr(head, 'retina_cls') else head.conv_cls).bias.fill_(-1.)
    return model


def exported_detector(tmp_path, detector, backbone, dynamic_batch=False, **test_cfg):
    init_default_scope('mmdet')
    cfg = detector_cfg(detector, backbone, **test_cfg)
    torch.manual_seed(0)  # the backbone and neck too: the same detector whatever ran before
    model = spread_weights(load_for_export(cfg))
    meta = export_metadata(cfg, model, 'detector', None)
    file = str(tmp_path / 'detector.onnx')
    export_onnx(model, file, (1, 3, SIZE, SIZE), dynamic_batch=dynamic_batch, metadata=meta)
    return cfg, model, file


@pytest.mark.parametrize('detector, backbone', [(RETINANET, CREAM_BACKBONE),
                                                (FCOS, CREAM_BACKBONE),
                                                (RETINANET, RESNET_BACKBONE)],
                         ids=['retinanet-cream', 'fcos-cream', 'retinanet-resnet'])
def test_detector_gives_pytorchs_detections(tmp_path, detector, backbone):
    cfg, model, file = exported_detector(tmp_path, detector, backbone)
    result = check_detector(model, cfg, file, read_metadata(file))
    assert result['images'] >= 7 and result['torch_boxes'] > 20
    assert result['equal'], result
    assert result['lowest_iou'] >= 0.99 and result['largest_score_difference'] <= 1e-3


def test_detector_free_batch_and_openvino_give_the_same(tmp_path):
    # A threshold that leaves few detections, or none (the second image).
    cfg, model, file = exported_detector(tmp_path, RETINANET, CREAM_BACKBONE,
                                         dynamic_batch=True, score_thr=0.4)
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    x[1] = x[0] * 0.3
    outputs = {b: open_session(file, b)({'input': x.numpy()}) for b in BACKENDS}
    dets, labels = outputs['onnxruntime']
    assert dets.shape == (3, RETINANET['test_cfg']['max_per_img'], 5)
    np.testing.assert_allclose(outputs['openvino'][0], dets, atol=1e-4)
    np.testing.assert_array_equal(outputs['openvino'][1], labels)
    for i in range(3):  # each image of the batch as it is alone
        alone, alone_labels = open_session(file)({'input': x[i:i + 1].numpy()})
        np.testing.assert_allclose(alone[0], dets[i], atol=1e-5)
        np.testing.assert_array_equal(alone_labels[0], labels[i])
    # Padding rows: label -1 and zeros, after the detections.
    padding = labels < 0
    assert 0 < (~padding[0]).sum() < len(labels[0]) and padding[1].all()
    assert (dets[padding] == 0).all() and (dets[~padding][:, 4] > 0.4).all()
    assert all(np.all(np.diff(padding[i].astype(int)) >= 0) for i in range(3))


def test_nms_pre_and_class_agnostic_nms_are_kept(tmp_path):
    cfg, model, file = exported_detector(
        tmp_path, FCOS, CREAM_BACKBONE, nms_pre=5,
        nms=dict(type='nms', iou_threshold=0.3, class_agnostic=True))
    assert check_detector(model, cfg, file, read_metadata(file))['equal']


def test_classifier_and_backbone_outputs_equal_pytorchs(tmp_path):
    from mmengine.registry import MODELS
    init_default_scope('mmdet')
    classifier = MODELS.build(dict(type='CreamClassifier', backbone=dict(
        arch='cream-14', num_classes=10))).eval()
    backbone = MODELS.build(CREAM_BACKBONE).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for model, net in ((classifier, classifier.backbone), (backbone, backbone)):
        file = str(tmp_path / f'{type(model).__name__}.onnx')
        export_onnx(model, file, (1, 3, 32, 32), dynamic_batch=True)
        with torch.no_grad():
            expected = net(x)
        expected = [expected] if isinstance(expected, torch.Tensor) else expected
        for backend in BACKENDS:
            outputs = open_session(file, backend)({'input': x.numpy()})
            assert len(outputs) == len(expected)
            for e, o in zip(expected, outputs):
                assert e.shape == o.shape and np.abs(e.numpy() - o).max() <= 1e-4
    assert read_metadata(str(tmp_path / 'CreamClassifier.onnx'))['output_names'] == ['logits']
    assert read_metadata(str(tmp_path / 'CreamNet.onnx'))['output_names'] == \
        ['feat0', 'feat1', 'feat2']


def test_backbone_check_on_real_images(tmp_path):
    init_default_scope('mmdet')
    cfg = detector_cfg(RETINANET, CREAM_BACKBONE)
    backbone = load_for_export(cfg, backbone=True)
    meta = export_metadata(cfg, backbone, 'backbone', None)
    file = str(tmp_path / 'backbone.onnx')
    export_onnx(backbone, file, (1, 3, SIZE, SIZE), metadata=meta)
    result = check_tensors(backbone, cfg, file, read_metadata(file))
    assert result['images'] >= 7 and result['equal'] and result['max_abs_difference'] > 0


def test_metadata_round_trip(tmp_path):
    cfg, model, file = exported_detector(tmp_path, RETINANET, CREAM_BACKBONE)
    meta = read_metadata(file)
    assert meta['kind'] == 'detector' and meta['classes'] == ['a', 'b', 'c']
    assert meta['num_classes'] == 3 and meta['input_shape'] == [1, 3, SIZE, SIZE]
    assert meta['mean'] == [0.] * 3 and meta['std'] == [255.] * 3
    assert meta['arch']['stages'] == model.backbone.arch.to_dict()['stages']
    assert meta['test_cfg']['score_thr'] == 0.05
    assert [t['type'] for t in meta['test_pipeline']][0] == 'LoadImageFromFile'
    assert len(meta['commit'].split('-')[0]) in (40, 7) or meta['commit'] == 'unknown'
    check_fits(meta, cfg, file)  # its own config fits


def test_match_share_counts_both_ways():
    ours = dict(bboxes=np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32),
                scores=np.array([0.9, 0.5], np.float32), labels=np.array([1, 2]))
    theirs = dict(bboxes=np.array([[0, 0, 10, 10.05], [20, 20, 30, 30], [5, 5, 9, 9]],
                                  np.float32),
                  scores=np.array([0.9004, 0.5, 0.3], np.float32), labels=np.array([1, 1, 0]))
    assert match_share(ours, theirs)[0] == 0.5  # the second box: another label
    assert match_share(theirs, ours)[0] == pytest.approx(1 / 3)


def test_another_class_count_or_input_size_is_one_line(tmp_path):
    cfg, model, file = exported_detector(tmp_path, RETINANET, CREAM_BACKBONE)
    meta = read_metadata(file)
    other = copy.deepcopy(cfg)
    other.model.bbox_head.num_classes = 10
    with pytest.raises(ConfigError, match='predicts 3 classes, the config 10'):
        check_fits(meta, other, file)
    other = copy.deepcopy(cfg)
    other.test_dataloader.dataset.pipeline[1].scale = (96, 96)
    with pytest.raises(ConfigError, match='takes 64x64 inputs.*96x96: export it with --shape'):
        check_fits(meta, other, file)


def test_unknown_head_names_the_supported_ones(tmp_path):
    init_default_scope('mmdet')
    cfg = detector_cfg(RETINANET, CREAM_BACKBONE)
    cfg.model.bbox_head.type = 'FreeAnchorRetinaHead'  # a RetinaHead with its own post-processing
    model = load_for_export(cfg)
    with pytest.raises(ConfigError, match='does not know the detector head '
                       'FreeAnchorRetinaHead: it knows RetinaHead, FCOSHead'):
        export_onnx(model, str(tmp_path / 'x.onnx'), (1, 3, SIZE, SIZE))


def test_onnx_detector_gives_mmdets_inference_and_draws(tmp_path, detection_set):
    """OnnxDetector on image files: mmdet's inference_detector's detections
    (boxes in the original image), DetDataSamples that mmdet's visualiser
    draws as they are."""
    import glob

    from mmdet.apis import inference_detector
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.structures import InstanceData

    from cream_det.deployment.onnx_detector import OnnxDetector
    cfg, model, file = exported_detector(tmp_path, RETINANET, CREAM_BACKBONE)
    model.cfg = cfg
    images = sorted(glob.glob(f'{detection_set}/val/*.jpg'))[:3]
    detector = OnnxDetector(file, 'openvino')
    results = detector(images)
    assert len(results) == 3 and detector.dataset_meta['classes'] == ('a', 'b', 'c')
    for image, result in zip(images, results):
        assert isinstance(result.pred_instances, InstanceData)
        assert result.ori_shape == (160, 160) and result.img_shape == (SIZE, SIZE)
        ours = {k: v.numpy() for k, v in inference_detector(model, image).pred_instances.items()}
        theirs = {k: v.numpy() for k, v in result.pred_instances.items()}
        assert len(ours['scores']) > 0 and theirs['bboxes'].max() > SIZE  # in 160x160 pixels
        assert match_share(ours, theirs)[0] == match_share(theirs, ours)[0] == 1
    visualizer = DetLocalVisualizer(name='onnx', save_dir=str(tmp_path))
    visualizer.dataset_meta = detector.dataset_meta
    from mmcv import imread
    visualizer.add_datasample('detections', imread(images[0], channel_order='rgb'), results[0],
                              draw_gt=False, out_file=str(tmp_path / 'shown.jpg'))
    assert (tmp_path / 'shown.jpg').stat().st_size > 0
