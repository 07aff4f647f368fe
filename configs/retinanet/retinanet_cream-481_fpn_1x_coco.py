_base_ = './retinanet_cream-287_fpn_1x_coco.py'

model = dict(backbone=dict(
    arch='cream-481', init_cfg=dict(checkpoint='cream-ema://checkpoints/481.pth.tar')))
