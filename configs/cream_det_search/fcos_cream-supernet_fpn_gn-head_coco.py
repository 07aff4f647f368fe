# The detection-aware Cream search with FCOS on COCO, 8 GPUs x 2 images,
# mmdet's 1x FCOS recipe: as retinanet_cream-supernet_fpn_coco.py, with
# FCOS (GN head) around the same supernet.
#   torchrun --nproc_per_node 8 tools/search_backbone.py THIS_CONFIG --launcher pytorch
_base_ = '../fcos/fcos_cream-287_fpn_gn-head_1x_coco.py'

supernet = dict(
    type='CreamSuperNet', space='cream', budget=(0, 600), num_classes=1000,
    out_indices=_base_.out_indices, frozen_stages=0, norm_eval=False,
    init_cfg=dict(type='Pretrained', prefix='supernet.',
                  checkpoint='work_dirs/cream-search_0-600_8xb128_in1k/epoch_120.pth'))
model = dict(
    _delete_=True, type='CreamDetSearch', detector=dict(_base_.model, backbone=supernet),
    warmup_iters=3 * 7330)  # the first 3 epochs of 12 (7,330 iterations of 16 images)
# As in the RetinaNet search: no SyncBN, the search's own rank averaging.
model_wrapper_cfg = dict(type='CreamSearchParallel')
sync_bn = None

custom_hooks = [dict(type='CreamArchHook', held_out=_base_.val_dataloader, calib_batches=50)]
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
