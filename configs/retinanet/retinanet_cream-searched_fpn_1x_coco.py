# The template for a searched arch: the arch.json of tools/search_backbone.py
# and the backbone that tools/export_backbone.py made from its pretraining.
# The neck's channels are those of the 'cream' space, which every arch of it
# shares; tools/train.py checks them against the arch.
_base_ = './retinanet_cream-287_fpn_1x_coco.py'

model = dict(backbone=dict(
    arch='work_dirs/cream-search_fashion-mnist/arch.json',
    init_cfg=dict(checkpoint='work_dirs/cream_fashion-mnist/backbone.pth', prefix='backbone.')))
