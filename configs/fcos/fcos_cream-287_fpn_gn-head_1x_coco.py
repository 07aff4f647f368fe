# FCOS with a Cream backbone on COCO: mmdet's R-50 config, with only what
# Cream changes: the backbone (40/96/320 channels at strides 8/16/32), the
# neck's input, the pixel statistics Cream was pretrained with (RGB, ImageNet
# mean and std, not Caffe's BGR), no weight decay on BN and biases.
#   torchrun --nproc_per_node 8 tools/train.py THIS_CONFIG --launcher pytorch
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'
from cream_det.detection import backbone_channels  # noqa: E402  (derives the neck's input)

custom_imports = dict(imports=['cream_det'], allow_failed_imports=False)

out_indices = (2, 4, 6)
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(
        _delete_=True, type='CreamNet', arch='cream-287', out_indices=out_indices,
        frozen_stages=0, norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='cream-ema://checkpoints/287.pth.tar')),
    neck=dict(in_channels=backbone_channels('cream', out_indices), start_level=0))
sync_bn = 'torch'  # mmengine converts BN to SyncBN when the run is distributed
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
