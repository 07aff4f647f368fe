# The embedded detection-aware search: the embedded classification search's
# supernet (the Cream space at 32x32, one layer per stage, entangled
# weights), from its checkpoint, as the backbone of the embedded RetinaNet
# (160x160 images, a 64-channel FPN and head) on the generated
# Fashion-MNIST-on-photos set, sized for 2 CPU cores (about 10 minutes).
# Paths are drawn within the classification search's 2.4-2.8 MFLOPs (the
# FLOPs of a path as a classifier at 32x32, so that both searches' choices
# lie in one band), ranked on their batch's detection loss and taught by the
# board's best path through channel-wise distillation of the FPN outputs.
#   python tools/search_backbone.py configs/cream/cream-search_fashion-mnist.py \
#       --work-dir work_dirs/main/search        # the supernet this one starts from
#   python tools/search_backbone.py THIS_CONFIG
_base_ = '../retinanet/retinanet_cream-searched_fpn_fashion-det.py'
from cream_det.detection import backbone_channels  # noqa: E402  (derives the neck's input)

out_indices = (2, 4, 6)
supernet = dict(
    type='CreamSuperNet', space='cream', depths=[1, 1, 1, 1, 1], resolution=32,
    num_classes=10, weight_sharing='entangled', out_indices=out_indices,
    # BN trained, as in the classification search: the statistics of
    # 160x160 photos are not those of 32x32 Fashion-MNIST, and the final
    # choice recalibrates them per path.
    frozen_stages=-1, norm_eval=False,
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/main/search/iter_1000.pth',
                  prefix='supernet.'))
detector = dict(
    type='RetinaNet', data_preprocessor=_base_.model.data_preprocessor, backbone=supernet,
    neck=dict(_base_.model.neck, in_channels=backbone_channels('cream', out_indices)),
    bbox_head=_base_.model.bbox_head,
    train_cfg=_base_.model.train_cfg, test_cfg=_base_.model.test_cfg)

# 0.25 s an iteration on 2 CPU cores (about 0.21 before the board opens, as
# the teacher's forward joins), the board's mAP scoring about 15 s: 9 minutes.
max_iters = 2000
model = dict(
    _delete_=True, type='CreamDetSearch', detector=detector,
    sampling='released', pick_method='top1',
    constraint=dict(flops=(2.4, 2.8)),
    warmup_iters=500,  # a quarter of the run, as the classification search's 300 of 1000
    pool_size=10,
    acc_gap=0.,  # in detection-loss units: enter a full board by any lower loss
    tau=1., kd_weight=5.,  # the CWD authors' RetinaNet FPN setting
    seed=0)
# Every rank's own step averages gradients and statistics; SyncBN would
# average the BN of paths the ranks do not share.
model_wrapper_cfg = dict(type='CreamSearchParallel')
sync_bn = None

data_root = 'data/fashion-det/'
metainfo = _base_.train_dataloader.dataset.metainfo
# The search trains on the first 160 training images and scores the board on
# the last 40 (held out from training, as the classification search holds out
# Fashion-MNIST training images), so that the val split stays for the
# detectors trained afterwards.
train_dataloader = dict(
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    # Unfiltered, as the held-out set is, so that the indices split one list.
    dataset=dict(indices=list(range(160)), filter_cfg=None))
held_out_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
        indices=list(range(160, 200)), test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(160, 160), keep_ratio=True),
            dict(type='LoadAnnotations', with_bbox=True),
            # The hook adds 'instances' to what it packs: CocoMetric takes the
            # ground truth from the samples (the annotation file holds the
            # training images too).
            dict(type='PackDetInputs')]))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.75), int(max_iters * 0.92)], gamma=0.1)]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
# The choice by held-out bbox mAP (the official rule, the lowest batch loss,
# is written next to it in arch.json); BN recalibrated on 5 training batches.
custom_hooks = [dict(type='CreamArchHook', rule='held_out', held_out=held_out_dataloader,
                     calib_batches=5)]
