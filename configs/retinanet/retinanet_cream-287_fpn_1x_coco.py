# RetinaNet with a Cream backbone on COCO: mmdet's R-50 config, with only
# what Cream changes. The backbone gives 40 channels at stride 8, 96 at 16
# and 320 at 32 (out_indices 2, 4, 6) and starts from the official release
# file's EMA weights (checkpoints/287.pth.tar).
#   torchrun --nproc_per_node 8 tools/train.py THIS_CONFIG \
#       --launcher pytorch
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
from cream_det.detection import backbone_channels  # noqa: E402  (derives the neck's input)

custom_imports = dict(imports=['cream_det'], allow_failed_imports=False)

out_indices = (2, 4, 6)
model = dict(
    backbone=dict(
        _delete_=True, type='CreamNet', arch='cream-287', out_indices=out_indices,
        # The stem frozen (0, as in mmdet's ResNet; mmdet's EfficientNet
        # detectors freeze nothing), BN trained (SyncBN on several GPUs, below).
        frozen_stages=0, norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='cream-ema://checkpoints/287.pth.tar')),
    neck=dict(in_channels=backbone_channels('cream', out_indices), start_level=0))
sync_bn = 'torch'  # mmengine converts BN to SyncBN when the run is distributed
# Depthwise networks are trained without weight decay on BN and biases.
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
