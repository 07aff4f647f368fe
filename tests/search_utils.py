"""A tiny search, on real Fashion-MNIST images, for the tests; and the
checks both searches share: exact resume, identical ranks under torchrun."""
import copy
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

TESTS = osp.dirname(osp.abspath(__file__))
CONFIG = osp.join(TESTS, '..', 'configs', 'cream', 'cream-search_fashion-mnist.py')

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
    cfg.truth_dataloader.num_workers = 0
    cfg.truth_dataloader.dataset.indices = (0, 64)
    cfg.custom_hooks[0].calib_batches = 2
    return cfg


class Interrupted(Exception):
    pass


class InterruptAt(Hook):
    """Kills the run after an iteration, once its checkpoint is written."""
    priority = 'LOWEST'

    def __init__(self, iteration):
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iteration:
            raise Interrupted


def assert_resume_gives_the_straight_run(build_cfg, tmp_path, interrupt_at):
    """mmengine's resume (the tools' --resume) restores board, iteration,
    weights and optimizer: the run of ``build_cfg(work_dir)`` interrupted
    after its checkpoint at ``interrupt_at`` and resumed ends as the
    straight run."""
    def final_state(work_dir, resume=False, interrupt=None):
        cfg = build_cfg(work_dir)
        cfg.resume = resume
        runner = Runner.from_cfg(cfg)
        if interrupt:
            runner.register_hook(InterruptAt(interrupt))
        runner.train()
        return runner.model.state_dict()
    straight = final_state(tmp_path / 'straight')
    with pytest.raises(Interrupted):
        final_state(tmp_path / 'split', interrupt=interrupt_at)
    resumed = final_state(tmp_path / 'split', resume=True)
    assert int(straight['board.size']) > 0
    for key, value in straight.items():
        if key.startswith('board.') or key == 'iteration':
            assert torch.equal(value, resumed[key]), key
        else:
            torch.testing.assert_close(value, resumed[key], rtol=1e-4, atol=1e-5, msg=key)


WORKER = '''
import sys, torch, torch.distributed as dist
sys.path[:0] = {paths!r}
from mmengine.runner import Runner
from cream_det.cli import init_process_group_without_gpu
from {module} import {function}
cfg = {function}({work_dir!r}, **{cfg_kwargs!r})
cfg.launcher = 'pytorch'
init_process_group_without_gpu(cfg)
runner = Runner.from_cfg(cfg)
runner.train()
torch.save(runner.model.module.state_dict(), {work_dir!r} + f'/rank{{dist.get_rank()}}.pth')
'''


def assert_two_ranks_stay_identical(tmp_path, module, function, port, **cfg_kwargs):
    """The run of ``module.function(work_dir, **cfg_kwargs)`` (with
    ``max_iters``) on two gloo ranks under torchrun, each on its own images,
    ends with one supernet and one board on both."""
    script = tmp_path / 'worker.py'
    # The module is a helper here in tests/ or a test module in one of its
    # folders: the worker imports it as pytest did, by its basename.
    where = glob.glob(osp.join(TESTS, '**', f'{module}.py'), recursive=True)
    assert len(where) == 1, f'{module}.py: expected one such file under {TESTS}, found {where}'
    paths = [osp.dirname(where[0]), TESTS]
    script.write_text(WORKER.format(paths=paths, module=module,
                                    function=function, work_dir=str(tmp_path),
                                    cfg_kwargs=cfg_kwargs))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                          '--master_port', str(port), str(script)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    assert int(rank0['board.size']) > 0 and int(rank0['iteration']) == cfg_kwargs['max_iters']
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
