# The embedded default: the retrain recipe (RMSpropTF, warm-up then cosine,
# EMA, dropout, label smoothing) on Fashion-MNIST, scaled down to minutes on
# 2 CPU cores: 32x32 images, one epoch over 24,000 training images in batches
# of 64 (lr scaled from 0.064 at 1,024), a warm-up of 100 iterations, an EMA
# that forgets in ~50 iterations (one over much of so short a run mixes
# weights and BN statistics that do not fit); evaluated on the 10,000 test
# images.
#   python tools/train.py configs/cream/cream_fashion-mnist.py \
#       --cfg-options model.backbone.arch=work_dirs/cream-search_fashion-mnist/arch.json
_base_ = './cream-287_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='cream-14', num_classes=10),
    data_preprocessor=dict(mean=[72.9] * 3, std=[90.0] * 3))

fashion = dict(type='FashionMNIST', resolution=32)
train_dataloader = dict(batch_size=64, num_workers=2,
                        dataset=dict(_delete_=True, split='train', indices=(0, 24000),
                                     augment=True, **fashion))
val_dataloader = dict(batch_size=500, num_workers=2,
                      dataset=dict(_delete_=True, split='test', **fashion))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=1)
optim_wrapper = dict(optimizer=dict(lr=0.064 * 64 / 1024))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 0.004, end_factor=1.0, by_epoch=False,
         begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=1, eta_min=1e-5, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True)]
default_hooks = dict(logger=dict(interval=50))
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=2e-2,
                     update_buffers=True, priority='ABOVE_NORMAL'),
                dict(type='ArchInMetaHook')]
