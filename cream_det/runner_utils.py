"""What the command-line tools share: turning their options into an
mmengine config, and launching several processes on machines without a GPU."""
from __future__ import annotations

import argparse
import os
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs, checkpoints and results go')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or the latest in the work dir')
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
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:
        _use_amp(cfg.optim_wrapper)
    if args.launcher != 'none':
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
        _init_process_group_without_gpu(cfg)
    return cfg


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
