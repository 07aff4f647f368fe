"""A tiny detection-aware search for the tests: real mmdet RetinaNet and
FCOS configs around a tiny supernet backbone, and a runner config over
64x64 images of the generated detection set."""
import copy

from mmengine.config import Config

from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 1]
OUT = (2, 4, 6)  # 16, 24 and 32 channels at strides 8, 16 and 32
CONSTRAINT = dict(flops=(0.25, 0.275))  # the tiny search's: about half the paths
BACKBONE = dict(type='CreamSuperNet', space=TINY_SPACE, depths=DEPTHS, resolution=32,
                num_classes=10, out_indices=OUT)
PREPROCESSOR = dict(type='DetDataPreprocessor', mean=[0.] * 3, std=[255.] * 3,
                    pad_size_divisor=32)
NECK = dict(type='FPN', in_channels=[16, 24, 32], out_channels=16, start_level=0, num_outs=3)
TEST_CFG = dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)
RETINANET = dict(
    type='RetinaNet', data_preprocessor=PREPROCESSOR, backbone=BACKBONE, neck=NECK,
    bbox_head=dict(
        type='RetinaHead', num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                        target_stds=[1.] * 4),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                 min_pos_iou=0, ignore_iof_thr=-1),
                   sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                   debug=False),
    test_cfg=TEST_CFG)
FCOS = dict(
    type='FCOS', data_preprocessor=PREPROCESSOR, backbone=BACKBONE, neck=NECK,
    bbox_head=dict(
        type='FCOSHead', num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1,
        strides=[8, 16, 32], regress_ranges=((-1, 16), (16, 32), (32, 1e8)),
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=TEST_CFG)
TRAIN_IMAGES = 16
HELD_OUT = list(range(TRAIN_IMAGES, TRAIN_IMAGES + 4))


def tiny_det_search_cfg(work_dir, data_root, max_iters=6, checkpoint_interval=None):
    """A runner config of the tiny RetinaNet search on 64x64 images of the
    generated set in ``data_root``, for the end-to-end runs."""
    from cream_det.datasets import FASHION_DETECTION_METAINFO
    detector = copy.deepcopy(RETINANET)
    detector['bbox_head'] = dict(detector['bbox_head'], num_classes=10)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(64, 64)), dict(type='PackDetInputs')]
    return Config(dict(
        default_scope='mmdet', work_dir=str(work_dir), randomness=dict(seed=0),
        model=dict(type='CreamDetSearch', detector=detector, sampling='even', pool_size=3,
                   warmup_iters=2, constraint=CONSTRAINT),
        model_wrapper_cfg=dict(type='CreamSearchParallel'),
        train_dataloader=dict(
            batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(type='CocoDataset', data_root=data_root,
                         metainfo=FASHION_DETECTION_METAINFO,
                         ann_file='annotations/instances_train.json',
                         data_prefix=dict(img='train/'), indices=list(range(TRAIN_IMAGES)),
                         pipeline=pipeline)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                           interval=checkpoint_interval or max_iters),
                           logger=dict(type='LoggerHook', interval=1)),
        log_processor=dict(by_epoch=False)))


def with_arch_hook(cfg):
    """``cfg`` with the arch hook scoring the board on the HELD_OUT images
    (one calibration batch). Its PackDetInputs is mmdet's plain one, as
    mmdet's configs have it: the search makes the scorer pack the ground
    truth."""
    held_out = copy.deepcopy(cfg.train_dataloader)
    held_out.update(sampler=dict(type='DefaultSampler', shuffle=False))
    held_out.dataset.update(indices=HELD_OUT, test_mode=True)
    cfg.custom_hooks = [dict(type='CreamArchHook', held_out=held_out, calib_batches=1)]
    return cfg
