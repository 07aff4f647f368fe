"""The search resumes with its board intact, and ranks stay identical."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from search_utils import tiny_search_cfg

pytestmark = pytest.mark.slow  # a search run each, and a two-rank torchrun

ROOT = Path(__file__).resolve().parents[1]


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


def _final_state(work_dir, resume=False, interrupt_at=None):
    cfg = tiny_search_cfg(work_dir, max_iters=12)
    cfg.custom_hooks = []
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    if interrupt_at:
        runner.register_hook(InterruptAt(interrupt_at))
    runner.train()
    return runner.model.state_dict()


def test_resume_gives_the_straight_run(tmp_path):
    straight = _final_state(tmp_path / 'straight')
    with pytest.raises(Interrupted):
        _final_state(tmp_path / 'split', interrupt_at=6)
    resumed = _final_state(tmp_path / 'split', resume=True)
    assert int(straight['board.size']) > 0
    for key, value in straight.items():
        if key.startswith('board.') or key == 'iteration':
            assert torch.equal(value, resumed[key]), key
        else:
            torch.testing.assert_close(value, resumed[key], rtol=1e-4, atol=1e-5, msg=key)


WORKER = '''
import sys, torch, torch.distributed as dist
sys.path.insert(0, {tests!r})
from mmengine.runner import Runner
from cream_det.cli import init_process_group_without_gpu
from search_utils import tiny_search_cfg
cfg = tiny_search_cfg({work_dir!r}, max_iters=12)
cfg.custom_hooks = []
cfg.launcher = 'pytorch'
init_process_group_without_gpu(cfg)
runner = Runner.from_cfg(cfg)
runner.train()
state = runner.model.module.state_dict()
torch.save(state, {work_dir!r} + f'/rank{{dist.get_rank()}}.pth')
'''


def test_two_ranks_stay_identical(tmp_path):
    script = tmp_path / 'worker.py'
    script.write_text(WORKER.format(tests=str(ROOT / 'tests'), work_dir=str(tmp_path)))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                          '--master_port', '29731', str(script)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rank0 = torch.load(tmp_path / 'rank0.pth')
    rank1 = torch.load(tmp_path / 'rank1.pth')
    assert int(rank0['board.size']) > 0 and int(rank0['iteration']) == 12
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
