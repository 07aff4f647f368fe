"""Choosing the final arch when the search ends, and writing it out."""
from __future__ import annotations

import copy
import json
import os
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm


def calibration_loader(train_dataloader: dict):
    """A fresh, finite loader over the training set. (The training loader
    itself will not do: mmengine's InfiniteSampler yields nothing more once
    an iterator over it has been dropped.)"""
    cfg = copy.deepcopy(dict(train_dataloader))
    cfg.update(sampler=dict(type='DefaultSampler', shuffle=True), persistent_workers=False)
    return Runner.build_dataloader(cfg)


def recalibrated_accuracy(child: torch.nn.Module, calib_loader, eval_loader, preprocess,
                          calib_batches: int) -> float:
    """Top-1 (%) of a child after re-estimating its BatchNorm statistics on
    a few training batches (the supernet's statistics are shared by all paths
    through a block, so they fit no single path)."""
    for m in child.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
    child.train()
    seen = 0
    with torch.no_grad():
        for batch in calib_loader:
            if seen == calib_batches:
                break
            child(preprocess(batch, False)['inputs'])
            seen += 1
        if seen == 0:
            raise RuntimeError('BatchNorm recalibration saw no batch: the loader is empty')
        child.eval()
        correct = total = 0
        for batch in eval_loader:
            data = preprocess(batch, False)
            labels = torch.as_tensor(data['data_samples'], device=data['inputs'].device)
            correct += int((child(data['inputs']).argmax(1) == labels).sum())
            total += len(labels)
    return 100. * correct / max(total, 1)


@HOOKS.register_module()
class CreamArchHook(Hook):
    """After training, write ``board.json`` (every entry) and ``arch.json``
    (the chosen arch) to the work dir.

    Two rules are reported: the official one, the top of the board by
    training prec@1, and, with ``held_out`` (a dataloader config), the board
    path within the FLOPs budget with the best held-out accuracy, its weights
    inherited from the supernet and its BatchNorm recalibrated on
    ``calib_batches`` training batches. ``rule`` says which one arch.json holds.
    """
    priority = 'LOW'

    def __init__(self, rule: str = 'official', held_out: Optional[dict] = None,
                 calib_batches: int = 20):
        if rule not in ('official', 'held_out'):
            raise ValueError(f"rule={rule!r}: expected 'official' or 'held_out'")
        if rule == 'held_out' and held_out is None:
            raise ValueError("rule='held_out' needs a held_out dataloader config")
        self.rule, self.held_out, self.calib_batches = rule, held_out, calib_batches

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        entries = model.board.entries()
        if not entries:
            raise RuntimeError('the search ended with an empty board: train past the '
                               f'warm-up ({model.warmup_iters} iterations) to fill it')
        supernet = model.supernet
        for entry in entries:
            entry['arch'] = str(supernet.arch_of(model.split_path(entry['path'])))
        official = 0
        chosen = official
        if self.held_out is not None:
            eval_loader = Runner.build_dataloader(self.held_out)
            calib_loader = calibration_loader(runner.cfg.train_dataloader)
            budget = supernet.budget or (0, float('inf'))
            best = None
            for i, entry in enumerate(entries):
                if not budget[0] <= entry['flops'] / 1e6 <= budget[1]:
                    continue
                child = supernet.export_child(model.split_path(entry['path']))
                child.to(next(supernet.parameters()).device)
                entry['held_out_top1'] = recalibrated_accuracy(
                    child, calib_loader, eval_loader, model.data_preprocessor,
                    self.calib_batches)
                if best is None or entry['held_out_top1'] > entries[best]['held_out_top1']:
                    best = i
            if self.rule == 'held_out' and best is not None:
                chosen = best
            runner.logger.info(f'held-out choice: board entry {best}, official choice: entry 0')
        with open(os.path.join(runner.work_dir, 'board.json'), 'w') as f:
            json.dump(dict(entries=entries), f, indent=2)
        arch = supernet.arch_of(model.split_path(entries[chosen]['path']))
        arch.meta.update(
            flops=entries[chosen]['flops'], params=entries[chosen]['params'],
            rule=self.rule, board_entry=chosen, board_prec1=entries[chosen]['prec1'],
            official_choice=entries[official]['arch'],
            held_out_choice=entries[best]['arch'] if self.held_out and best is not None
            else None)
        path = os.path.join(runner.work_dir, 'arch.json')
        arch.dump(path)
        runner.logger.info(f'chosen arch ({self.rule} rule): {arch}, '
                           f'{arch.meta["flops"] / 1e6:.1f} MFLOPs -> {path}')
