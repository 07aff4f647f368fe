# The template for a searched arch: the backbone of its ImageNet pretraining
# checkpoint (tools/train.py configs/cream/cream-287_8xb128_in1k.py
#   --work-dir work_dirs/cream-searched_8xb128_in1k
#   --cfg-options model.backbone.arch=work_dirs/cream-search_0-600_8xb128_in1k/arch.json),
# loaded as it is: its EMA weights, and the arch it carries in its meta.
# tools/train.py checks the neck's channels against that arch.
_base_ = './retinanet_cream-287_fpn_1x_coco.py'

model = dict(backbone=dict(
    arch=None,
    init_cfg=dict(checkpoint='work_dirs/cream-searched_8xb128_in1k/epoch_510.pth',
                  prefix='backbone.')))
