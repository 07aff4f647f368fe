"""What the command-line tools share: turning their options into an
mmengine config, launching several processes on machines without a GPU, and
the one place where bad input becomes one line on stderr.

Only a :class:`~cream_det.errors.CreamError` is shown that way, and only
while a run is being set up: reading the config, building the runner, its
data and its weights, before the first iteration. Anything else, and
anything later, keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from contextlib import contextmanager

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from . import compat
from .checkpoint import load_weights
from .detection import check_neck_channels
from .errors import ConfigError, CreamError, MissingFileError, SetupError
from .mmcv_ops import missing_cuda_ops, mmcv_cuda_ops


@contextmanager
def user_errors():
    """Bad input ends the tool with its message alone."""
    try:
        yield
    except CreamError as err:
        sys.exit(f'error: {err}')


def parser_for(description: str) -> argparse.ArgumentParser:
    """An argument parser for a tool whose docstring is ``description``; the
    stack's version workarounds are on once a tool has one."""
    compat.apply()
    return argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


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
    add_cfg_options(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_epochs=2')


def load_config(path: str, cfg_options: dict = None) -> Config:
    if not osp.isfile(path):
        raise MissingFileError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.cfg_options)
    check_neck_channels(cfg.get('model', {}))
    check_checkpoint_files(cfg.get('model', {}))
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if getattr(args, 'resume', None) == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif getattr(args, 'resume', None):
        cfg.resume, cfg.load_from = True, args.resume
    if getattr(args, 'auto_scale_lr', False):
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ConfigError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.amp and 'optim_wrapper' in cfg:
        if get_device() == 'cpu':
            raise ConfigError("--amp: mmengine's AmpOptimWrapper trains on a GPU (CUDA, NPU, "
                              'MLU or MUSA) only, and this machine has none; train without '
                              '--amp')
        _use_amp(cfg.optim_wrapper)
    if args.amp and cfg.get('test_dataloader') is not None:
        # (a config without a test loop must not gain a test_cfg: mmengine
        # refuses a test_cfg without a test_dataloader)
        cfg.setdefault('test_cfg', {})['fp16'] = True
    if args.launcher != 'none':
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
        init_process_group_without_gpu(cfg)
    return cfg


def check_checkpoint_files(model_cfg) -> None:
    """Every local file a ``Pretrained`` init of the model names must exist:
    mmengine would find out only once training starts, with a traceback."""
    if isinstance(model_cfg, dict):
        init = model_cfg.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            name = str(init.get('checkpoint'))
            local = name.split('://', 1)[1] if name.startswith(('cream://', 'cream-ema://')) \
                else name
            if '://' not in local and not osp.isfile(local):
                raise MissingFileError(f'checkpoint file {local} does not exist (the '
                                       'Pretrained init_cfg of the model)')
        for value in model_cfg.values():
            check_checkpoint_files(value)
    elif isinstance(model_cfg, (list, tuple)):
        for value in model_cfg:
            check_checkpoint_files(value)


def check_cuda_ops(model: torch.nn.Module, device: str = None,
                   has_cuda_ops: bool = None) -> None:
    """Stop before the first iteration where a detector (every mmdet
    detector runs mmcv's nms; RetinaNet and FCOS its focal loss too) is on a
    GPU and mmcv has no CUDA ops: it would fail at its first loss, after the
    data had loaded. ``device`` (the model's) and ``has_cuda_ops``
    (:func:`~cream_det.mmcv_ops.mmcv_cuda_ops`) are found unless given."""
    from mmdet.models.detectors import BaseDetector
    if device is None:
        device = next(model.parameters()).device.type
    detector = any(isinstance(m, BaseDetector) for m in model.modules())
    message = missing_cuda_ops(device, detector,
                               mmcv_cuda_ops() if has_cuda_ops is None else has_cuda_ops)
    if message:
        raise SetupError(message)


def train_from_command_line(description: str) -> None:
    """``tools/train.py`` and ``tools/search_backbone.py``: mmengine's runner
    from the config and the options, its data built before training."""
    parser = parser_for(description)
    add_runner_args(parser)
    args = parser.parse_args()
    with user_errors():
        runner = Runner.from_cfg(config_from_args(args))
        check_cuda_ops(runner.model)
        runner.train_loop  # noqa: B018  (builds the datasets: their errors come now)
        runner.val_loop  # noqa: B018
    try:
        runner.train()
    except CreamError as err:  # weights loaded or resumed at the start
        if runner.iter > 0:
            raise
        sys.exit(f'error: {err}')


def test_from_args(args: argparse.Namespace) -> dict:
    """``tools/test.py``: the config's test loop on the checkpoint's weights,
    loaded strictly (EMA weights where the file has them)."""
    with user_errors():
        cfg = config_from_args(args)
        cfg.load_from = None  # load_weights below, strictly
        if args.show_dir:
            visualization = cfg.default_hooks.get('visualization')
            if visualization is None:
                raise ConfigError('--show-dir: the config has no visualization hook '
                                  '(default_hooks.visualization), as mmdet configs have')
            visualization.update(draw=True, test_out_dir=args.show_dir)
        runner = Runner.from_cfg(cfg)
        check_cuda_ops(runner.model)
        runner.test_loop  # noqa: B018  (builds the dataset: its errors come now)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        which = load_weights(model, args.checkpoint)
    runner.logger.info(f'loaded {which} of {args.checkpoint}')
    return runner.test()


def _use_amp(optim_wrapper: dict) -> None:
    """AmpOptimWrapper for one wrapper or for each of a dict of wrappers."""
    if 'optimizer' in optim_wrapper or 'type' in optim_wrapper:
        optim_wrapper['type'] = 'AmpOptimWrapper'
        optim_wrapper.setdefault('loss_scale', 'dynamic')
        return
    for wrapper in optim_wrapper.values():
        if isinstance(wrapper, dict):
            _use_amp(wrapper)


def init_process_group_without_gpu(cfg: Config) -> None:
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
