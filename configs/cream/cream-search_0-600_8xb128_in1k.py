# The paper's ImageNet search: the (0, 600) MFLOPs supernet, 8 GPUs x 128
# images, 120 epochs, the official hyper-parameters (microsoft/Cream,
# experiments/configs/train/train.yaml).
#   torchrun --nproc_per_node 8 tools/search_backbone.py THIS_CONFIG --launcher pytorch
custom_imports = dict(imports=['cream_det'], allow_failed_imports=False)

iters_per_epoch = 1281167 // 1024  # 1251 at 8 x 128
model = dict(
    type='CreamSearch',
    supernet=dict(space='cream', budget=(0, 600), num_classes=1000),
    # Uniform ops, as the released code samples whatever its train.yaml says
    # (its probabilities land in np.random.choice's `replace`): the search
    # that produced the published archs. 'pre_prob' applies the paper's.
    sampling='released',
    pick_method='meta',
    # The student's lr in the look-ahead, as the paper's step; the released
    # code takes the meta network's (1e-4 of it): lookahead_lr='meta'.
    lookahead_lr='student',
    warmup_iters=21 * iters_per_epoch,  # official META_STA_EPOCH 20: epochs 0-20
    pool_size=10,
    acc_gap=5.,
    slice_size=4,
    update_iter=200,
    label_smoothing=0.1,
    seed=0,
    # ImageFolderData's timm transforms normalise; this only batches.
    data_preprocessor=dict(type='ImgDataPreprocessor'))

train_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    # The official search's augmentation (timm's, as tools/train.py set it).
    dataset=dict(type='ImageFolderData', root='data/imagenet', split='train', resolution=224,
                 color_jitter=0.4, interpolation='random', re_prob=0.2, re_mode='pixel'))

max_epochs = 120
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# SGD with Nesterov, lr 1.0 at 8 x 128 images, no weight decay on biases and
# BatchNorm, linear decay to 0; the meta-matching network at lr 1e-4, its
# steps clipped at a norm of 1 (the official student steps are not clipped,
# but for the one in the meta update: docs/en/advanced_guides/deviations.md).
optim_wrapper = dict(
    constructor='SubmoduleOptimWrapperConstructor',
    supernet=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=1.0, momentum=0.9, nesterov=True, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.)),
    meta=dict(type='OptimWrapper',
              optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, nesterov=True),
              clip_grad=dict(max_norm=1.)))
param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
                        begin=0, end=max_epochs, convert_to_iter_based=True)]

model_wrapper_cfg = dict(type='CreamSearchParallel')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
# The official top-of-board choice; add held_out=<a dataloader> and
# rule='held_out' to re-evaluate the board's paths on held-out images. No EMA:
# the official train.yaml sets one, but its search script never builds it,
# and the board is scored with the raw weights.
custom_hooks = [dict(type='CreamArchHook', rule='official')]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
log_level = 'INFO'
load_from = None
resume = False
