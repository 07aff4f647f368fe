"""A tiny search, on real Fashion-MNIST images, for the tests."""
import copy
import os.path as osp

from mmengine.config import Config

CONFIG = osp.join(osp.dirname(__file__), '..', 'configs', 'cream', 'cream-search_fashion-mnist.py')

TINY_SPACE = dict(
    name='tiny-test', stem_channels=8, first_block='ds_r1_k3_s1_e1_c8_se0.25',
    stages=['ir_r1_k3_s2_e2_c8_se0.25', 'ir_r1_k3_s2_e2_c16_se0.25',
            'ir_r1_k3_s2_e2_c16_se0.25', 'ir_r1_k3_s1_e2_c24_se0.25',
            'ir_r1_k3_s2_e2_c24_se0.25'],
    ops=['k3e2', 'k5e2', 'k3e3'], last_block='cn_r1_k1_s1_c32', head_channels=64,
    default_resolution=32)


def tiny_search_cfg(work_dir, max_iters=12, **model):
    """The embedded default config with a tiny space and few iterations."""
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.model.supernet = dict(space=copy.deepcopy(TINY_SPACE), depths=[1, 2, 1, 1, 1],
                              resolution=32, num_classes=10)
    # The tiny space's paths span 0.239-0.307 MFLOPs; half of them lie within.
    cfg.model.update(dict(sampling='even', pool_size=4, warmup_iters=4, update_iter=3,
                          constraint=dict(flops=(0.25, 0.275))), **model)
    cfg.train_dataloader.batch_size = 16
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.indices = (0, 256)
    cfg.train_cfg.max_iters = max_iters
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.0,
                                by_epoch=False, begin=0, end=max_iters)]
    cfg.default_hooks.checkpoint.interval = max_iters // 2
    cfg.default_hooks.checkpoint.max_keep_ckpts = 3
    cfg.default_hooks.logger.interval = 2
    held_out = cfg.custom_hooks[0].held_out
    held_out.num_workers = 0
    held_out.dataset.indices = (50000, 50064)
    cfg.custom_hooks[0].calib_batches = 2
    return cfg
