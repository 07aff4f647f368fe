# The embedded default: a Cream search on Fashion-MNIST (real data, from the
# Debian package dataset-fashion-mnist) that runs on 2 CPU cores in minutes.
# The Cream space at 32x32 with fewer layers; the rules are the paper's,
# scaled down (board warm-up, meta-update interval).
custom_imports = dict(imports=['cream_det'], allow_failed_imports=False)

model = dict(
    type='CreamSearch',
    supernet=dict(space='cream', depths=[1, 1, 1, 1, 1], resolution=32, num_classes=10),
    sampling='pre_prob',
    pick_method='meta',
    warmup_iters=300,
    pool_size=10,
    acc_gap=5.,
    slice_size=4,
    update_iter=50,
    label_smoothing=0.1,
    seed=0,
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[72.9] * 3, std=[90.0] * 3))

fashion = dict(type='FashionMNIST', split='train', resolution=32)
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(fashion, indices=(0, 50000), augment=True))
# Held out from training: 2,000 of the last 10,000 training images.
held_out_dataloader = dict(
    batch_size=256, num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(fashion, indices=(50000, 52000)))

max_iters = 1000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
# The official recipe, lr 1.0 for 8x128 images scaled to 64 images.
optim_wrapper = dict(
    constructor='SubmoduleOptimWrapperConstructor',
    supernet=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=1.0 * 64 / 1024, momentum=0.9, nesterov=True,
                       weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.)),
    meta=dict(type='OptimWrapper',
              optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, nesterov=True)))
param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
                        begin=0, end=max_iters)]

model_wrapper_cfg = dict(type='CreamSearchParallel')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=250, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='CreamArchHook', rule='official', held_out=held_out_dataloader,
                     calib_batches=10)]
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
log_level = 'INFO'
load_from = None
resume = False
