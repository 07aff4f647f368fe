# The small models decay in steps, x0.973 every 2.4 epochs, for 500 epochs
# (timm's StepLRScheduler in the official 14.yaml and 43.yaml): at epochs
# ceil(2.4 k), the milestones below.
_base_ = './cream-287_8xb128_in1k.py'

model = dict(backbone=dict(arch='cream-43'))
train_dataloader = dict(dataset=dict(resolution=96))
val_dataloader = dict(dataset=dict(resolution=96))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=500)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 0.064, end_factor=1.0, by_epoch=True,
         begin=0, end=3, convert_to_iter_based=True),
    dict(type='MultiStepLR', milestones=[-(-24 * k // 10) for k in range(1, 209)],
         gamma=0.973, by_epoch=True, begin=0, end=500)]
