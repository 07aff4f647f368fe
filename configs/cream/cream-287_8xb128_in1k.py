# Pretraining a Cream child on ImageNet with the official retrain recipe
# (microsoft/Cream, experiments/configs/retrain/287.yaml, tools/retrain.py):
# RMSpropTF, lr 0.064 at 8 x 128 images, 3 warm-up epochs from 1e-6, cosine
# decay to 1e-5 over 500 epochs and 10 more at 1e-5 (timm's cooldown epochs),
# weight decay 1e-5 off biases and BN, dropout 0.2, label smoothing 0.1,
# EMA 0.9999 (evaluated), RandAugment rand-m9-mstd0.5, random erasing 0.2.
#   torchrun --nproc_per_node 8 tools/train.py THIS_CONFIG --launcher pytorch
#   python tools/test.py THIS_CONFIG checkpoints/287.pth.tar   # an official release file
custom_imports = dict(imports=['cream_det'], allow_failed_imports=False)

model = dict(
    type='CreamClassifier',
    # arch: a published name or a searched arch.json
    backbone=dict(arch='cream-287', num_classes=1000, drop_rate=0.2),
    label_smoothing=0.1,
    # ImageFolderData's timm transforms normalise; this only batches.
    data_preprocessor=dict(type='ImgDataPreprocessor'))

data_root = 'data/imagenet'
train_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ImageFolderData', root=data_root, split='train', resolution=224,
                 auto_augment='rand-m9-mstd0.5', re_prob=0.2, re_mode='pixel',
                 interpolation='random'))  # timm skips colour jitter under RandAugment
val_dataloader = dict(
    batch_size=512, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ImageFolderData', root=data_root, split='val', resolution=224,
                 crop_pct=0.875, interpolation='bicubic'))
test_dataloader = val_dataloader
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

warmup_epochs, decay_epochs, cooldown_epochs = 3, 500, 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=decay_epochs + cooldown_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
base_lr = 0.064
optim_wrapper = dict(
    optimizer=dict(type='RMSpropTF', lr=base_lr, alpha=0.9, eps=1e-3, momentum=0.9,
                   weight_decay=1e-5),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / base_lr, end_factor=1.0, by_epoch=True,
         begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=decay_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=decay_epochs, convert_to_iter_based=True)]
# --auto-scale-lr scales lr by the total batch against 8 x 128.
auto_scale_lr = dict(enable=False, base_batch_size=1024)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='accuracy/top1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
# timm's ModelEma averaged buffers too, hence update_buffers. Checkpoints carry
# the arch (ArchInMetaHook), so that a detection backbone loads them as they are.
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=1e-4,
                     update_buffers=True, priority='ABOVE_NORMAL'),
                dict(type='ArchInMetaHook')]
env_cfg = dict(cudnn_benchmark=True, dist_cfg=dict(backend='nccl'))
randomness = dict(seed=42)
log_level = 'INFO'
load_from = None
resume = False
