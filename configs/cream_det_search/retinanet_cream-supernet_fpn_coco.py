# The detection-aware Cream search on COCO, 8 GPUs x 2 images, mmdet's 1x
# RetinaNet recipe (12 epochs): the (0, 600) supernet of the ImageNet search
# (configs/cream/cream-search_0-600_8xb128_in1k.py), from its last
# checkpoint, as the backbone; paths drawn within the supernet's budget,
# ranked on their batch's detection loss, taught by the board's best path;
# the board scored at the end by bbox mAP on val2017 (BN recalibrated).
#   torchrun --nproc_per_node 8 tools/search_backbone.py THIS_CONFIG --launcher pytorch
# Then train the chosen arch (work_dirs/THIS/arch.json) on ImageNet and in
# configs/retinanet/retinanet_cream-searched_fpn_1x_coco.py, and compare
# detectors on a split the search did not score (test-dev).
_base_ = '../retinanet/retinanet_cream-287_fpn_1x_coco.py'

supernet = dict(
    type='CreamSuperNet', space='cream', budget=(0, 600), num_classes=1000,
    out_indices=_base_.out_indices, frozen_stages=0, norm_eval=False,
    init_cfg=dict(type='Pretrained', prefix='supernet.',
                  checkpoint='work_dirs/cream-search_0-600_8xb128_in1k/epoch_120.pth'))
# CreamDetSearch's defaults otherwise: the board's top as teacher, 10
# entries, channel-wise distillation at tau 1 and weight 5, seed 0.
model = dict(
    _delete_=True, type='CreamDetSearch', detector=dict(_base_.model, backbone=supernet),
    warmup_iters=3 * 7330)  # the first 3 epochs of 12 (7,330 iterations of 16 images)
# Every rank's step averages gradients and statistics itself; SyncBN would
# average the BN of paths the ranks do not share.
model_wrapper_cfg = dict(type='CreamSearchParallel')
sync_bn = None

# The board scored on val2017 (the hook packs the ground truth CocoMetric reads).
custom_hooks = [dict(type='CreamArchHook', held_out=_base_.val_dataloader, calib_batches=50)]
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
