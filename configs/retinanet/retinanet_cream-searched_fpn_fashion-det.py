# The embedded default for detection: the searched backbone, as its
# Fashion-MNIST pretraining left it (python tools/train.py
# configs/cream/cream_fashion-mnist.py), in RetinaNet on the generated
# Fashion-MNIST-on-photos set (COCO format;
# python tools/misc/make_detection_set.py data/fashion-det), sized for 2 CPU
# cores: 160x160 images, a 64-channel FPN and head, 24 epochs of 25
# iterations with AdamW at 1e-3 and clipped gradients, seeded.
_base_ = './retinanet_cream-searched_fpn_1x_coco.py'
from cream_det.datasets import FASHION_DETECTION_METAINFO as metainfo  # noqa: E402

data_root = 'data/fashion-det/'
image_size = (160, 160)
model = dict(
    # BN frozen, as mmdet does for small per-GPU batches.
    backbone=dict(norm_eval=True, init_cfg=dict(
        checkpoint='work_dirs/cream_fashion-mnist/epoch_1.pth')),
    # The pixel statistics of the Fashion-MNIST pretraining.
    data_preprocessor=dict(mean=[72.9] * 3, std=[90.0] * 3),
    neck=dict(out_channels=64),
    bbox_head=dict(num_classes=10, in_channels=64, feat_channels=64, stacked_convs=2))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
train_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[18, 22],
         gamma=0.1)]
randomness = dict(seed=0)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
