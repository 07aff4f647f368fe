_base_ = './fcos_cream-287_fpn_gn-head_1x_coco.py'

model = dict(backbone=dict(
    arch='cream-114', init_cfg=dict(checkpoint='cream-ema://checkpoints/114.pth.tar')))
