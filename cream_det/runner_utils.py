"""What the command-line tools share: turning their options into an
mmengine config, launching several processes on machines without a GPU,
and errors a user can act on."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from .detection import check_neck_channels

# What bad input raises while a runner is built or runs: a missing dataset or
# checkpoint, an unknown arch or option value, a diverged loss.
USER_ERRORS = (FileNotFoundError, ValueError, KeyError, FloatingPointError)


def add_runner_args(parser: argparse.ArgumentParser, training: bool = True) -> None:
    parser.add_argument('config', help='config file')
    if not training:
        parser.add_argument('checkpoint', help='checkpoint file: mmengine, exported or an '
                            'official release file (its EMA weights where it has them)')
    parser.add_argument('--work-dir', help='where logs, checkpoints and results go')
    if training:
        parser.add_argument('--resume', nargs='?', type=str, const='auto',
                            help='resume from this checkpoint, or the latest in the work dir')
        parser.add_argument('--auto-scale-lr', action='store_true',
                            help="scale the lr by the total batch (the config's auto_scale_lr)")
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def config_from_args(args: argparse.Namespace) -> Config:
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_neck_channels(cfg.get('model', {}))
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if getattr(args, 'resume', None) == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif getattr(args, 'resume', None):
        cfg.resume, cfg.load_from = True, args.resume
    if getattr(args, 'auto_scale_lr', False):
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise KeyError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.amp and 'optim_wrapper' in cfg:
        _use_amp(cfg.optim_wrapper)
    if args.amp:
        cfg.setdefault('test_cfg', {})['fp16'] = True
    if args.launcher != 'none':
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
        _init_process_group_without_gpu(cfg)
    return cfg


def train_from_command_line(description: str) -> None:
    """``tools/train.py`` and ``tools/search_backbone.py``: build mmengine's
    runner from the config and the options, train, and turn bad input into
    one line on stderr."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runner_args(parser)
    args = parser.parse_args()
    try:
        Runner.from_cfg(config_from_args(args)).train()
    except USER_ERRORS as err:
        sys.exit(f'error: {err.args[0] if len(err.args) == 1 else err}')


def _use_amp(optim_wrapper: dict) -> None:
    """AmpOptimWrapper for one wrapper or for each of a dict of wrappers."""
    if 'optimizer' in optim_wrapper or 'type' in optim_wrapper:
        optim_wrapper['type'] = 'AmpOptimWrapper'
        optim_wrapper.setdefault('loss_scale', 'dynamic')
        return
    for wrapper in optim_wrapper.values():
        if isinstance(wrapper, dict):
            _use_amp(wrapper)


def _init_process_group_without_gpu(cfg: Config) -> None:
    """mmengine 0.10.7's pytorch launcher calls torch.cuda.set_device, which
    fails without a GPU; the runner skips its own set-up when a process
    group exists, so one is made here with gloo. DDP refuses device_ids for
    CPU modules, hence device_ids=None."""
    if torch.cuda.is_available() or torch_dist.is_initialized():
        return
    torch_dist.init_process_group('gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    if wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
