# The embedded default: the Cream search on Fashion-MNIST (real data, from the
# Debian package dataset-fashion-mnist), scaled down to run on 2 CPU cores in
# minutes: the Cream space at 32x32 with one layer per stage, 1,000 iterations
# of 64 images, a shorter board warm-up and meta-update interval. Its
# candidates share entangled weights: with a block per op, none of whose five
# searchable layers has a skip connection at one layer per stage, the supernet
# stays near chance in this budget (docs/en/advanced_guides/entangled_weights.md).
# Its FLOPs range binds: paths span 2.19-3.50 MFLOPs, and within 2.4-2.8 the
# search must trade ops against each other instead of taking the dearest.
_base_ = './cream-search_0-600_8xb128_in1k.py'

model = dict(
    supernet=dict(_delete_=True, space='cream', depths=[1, 1, 1, 1, 1], resolution=32,
                  num_classes=10, weight_sharing='entangled'),
    constraint=dict(flops=(2.4, 2.8)),
    warmup_iters=300,
    update_iter=50,
    data_preprocessor=dict(mean=[72.9] * 3, std=[90.0] * 3))

fashion = dict(type='FashionMNIST', split='train', resolution=32)
train_dataloader = dict(
    batch_size=64, num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, indices=(0, 50000), augment=True, **fashion))
# Held out from training: the last 10,000 training images, on which the
# search scores paths (one standard error of a top-1 near 79 % is 0.4 points).
held_out_dataloader = dict(
    batch_size=256, num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(indices=(50000, 60000), **fashion))
# What the benchmarks' ground truth (archs trained alone) is scored on: the
# 10,000 test images, which no search sees.
truth_dataloader = dict(held_out_dataloader, dataset=dict(fashion, split='test'))

max_iters = 1000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
optim_wrapper = dict(supernet=dict(optimizer=dict(lr=1.0 * 64 / 1024)))  # scaled to 64
param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
                        begin=0, end=max_iters)]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=250, max_keep_ckpts=2))
custom_hooks = [dict(type='CreamArchHook', rule='official', held_out=held_out_dataloader,
                     calib_batches=10)]
log_processor = dict(by_epoch=False)
