"""The final choice of a search: which board path becomes the arch, and the
files that say so (``arch.json``, ``board.json``). The arch hook makes it when
a search ends, and ``tools/select_arch.py`` redoes it from any checkpoint."""
from __future__ import annotations

import copy
import inspect
import json
import os
from typing import Optional

from mmengine.registry import HOOKS, MODELS, DefaultScope
from mmengine.runner import Runner

from ..arch import Arch
from ..checkpoint import load_weights
from ..errors import ConfigError
from ..latency import LatencyTable
from .budgets import predicted_latency
from ..search.det_search import CreamDetSearch
from .det_choice import choose_det_arch, packing_ground_truth, recalibrated_map
from .scoring import calibration_loader, path_accuracy

RULES = ('official', 'held_out')
ARCH_HOOKS = ('CreamArchHook', 'CreamDetArchHook')


def choose_arch(model, rule: str = 'official', calib_loader=None, eval_loader=None,
                calib_batches: int = 20, logger=None,
                table: Optional[LatencyTable] = None) -> tuple[Arch, list[dict]]:
    """The chosen arch (its meta says how) and the board's entries.

    'official' takes the top of the board by training prec@1; with loaders,
    every board path within the FLOPs budget is also scored on held-out
    images (BatchNorm recalibrated), and 'held_out' takes the best of them.
    Under a ``constraint`` both consider only the entries it admits (all of
    them, unless the board was filled under another one). Entries and arch
    carry their predicted latency on ``table``'s device (by default the
    constraint's table, if it has one).
    """
    board = model.board
    entries = board.entries()
    if table is None and model.constraint is not None:
        table = model.constraint.latency_table
    for i, entry in enumerate(entries):
        entry.update(predicted_latency(table, board.path(i)))
    if not entries:
        raise RuntimeError('the search ended with an empty board: train past the '
                           f'warm-up ({model.warmup_iters} iterations) to fill it')
    admitted = [i for i in range(len(entries)) if model.admits(board.path(i))]
    official = chosen = 0
    if model.constraint is not None:
        if not admitted:
            raise RuntimeError(f'no board entry lies within the constraint {model.constraint}')
        official = chosen = admitted[0]
    best = None
    if eval_loader is not None:
        for i in admitted:
            entry = entries[i]
            entry['held_out_top1'] = path_accuracy(model, board.path(i), calib_loader,
                                                   eval_loader, calib_batches)
            if best is None or entry['held_out_top1'] > entries[best]['held_out_top1']:
                best = i
        if rule == 'held_out' and best is not None:
            chosen = best
        if logger is not None:
            logger.info(f'held-out choice: board entry {best}, official choice: entry '
                        f'{official}')
    return chosen_arch(model, entries, chosen, official, best, rule, table,
                       board_prec1=entries[chosen]['prec1']), entries


def chosen_arch(model, entries: list[dict], chosen: int, official: int, best: Optional[int],
                rule: str, table: Optional[LatencyTable], **scores) -> Arch:
    """The board's entry ``chosen`` as an Arch whose meta says what it costs
    and how it was chosen (both searches' arch.json), with ``scores``."""
    board = model.board
    arch = board.arch(chosen)
    arch.meta.update(
        flops=entries[chosen]['flops'], params=entries[chosen]['params'], rule=rule,
        board_entry=chosen, **scores, official_choice=entries[official]['arch'],
        held_out_choice=entries[best]['arch'] if best is not None else None,
        **predicted_latency(table, board.path(chosen)))
    if model.constraint is not None:
        arch.meta['constraint'] = str(model.constraint)
    return arch


def board_summary(entries: list[dict]) -> str:
    """The board's size and spread of FLOPs (and of held-out top-1, when scored)."""
    flops = [e['flops'] / 1e6 for e in entries]
    text = f'{len(entries)} paths, {min(flops):.2f}-{max(flops):.2f} MFLOPs'
    held_out = [e['held_out_top1'] for e in entries if 'held_out_top1' in e]
    if held_out:
        text += f', held-out top-1 {min(held_out):.2f}-{max(held_out):.2f} %'
    return text


def write_choice(out_dir: str, arch: Arch, entries: list[dict]) -> str:
    """``board.json`` and ``arch.json`` in ``out_dir``; returns the arch file."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'board.json'), 'w') as f:
        json.dump(dict(entries=entries), f, indent=2)
    path = os.path.join(out_dir, 'arch.json')
    arch.dump(path)
    return path


def check_rule(rule: str, held_out: Optional[dict]) -> None:
    if rule not in RULES:
        raise ConfigError(f'rule={rule!r}: expected one of {RULES}')
    if rule == 'held_out' and held_out is None:
        raise ConfigError("rule='held_out' needs a held_out dataloader config")


def arch_hook_cfg(cfg) -> dict:
    """The search config's arch hook settings (CreamArchHook or
    CreamDetArchHook; {} without one)."""
    return next((h for h in cfg.get('custom_hooks', []) if h.get('type') in ARCH_HOOKS), {})


def arch_hook_setting(cfg, name: str):
    """A setting of the search config's arch hook, else the default of the
    search's hook class (CreamDetArchHook's for a detection-aware search)."""
    hook = arch_hook_cfg(cfg)
    if name in hook:
        return hook[name]
    detection = hook.get('type', cfg.model.get('type')) in ('CreamDetArchHook', 'CreamDetSearch')
    hook_class = HOOKS.get('CreamDetArchHook' if detection else 'CreamArchHook')
    return inspect.signature(hook_class.__init__).parameters[name].default


def held_out_cfg(cfg) -> Optional[dict]:
    """The search config's held-out loader: the arch hook's, else ``held_out_dataloader``."""
    return arch_hook_cfg(cfg).get('held_out') or cfg.get('held_out_dataloader')


def searched_model(cfg, checkpoint: str) -> tuple:
    """A search's model with a checkpoint's plain weights (as the hook
    scores them at the end of a run) and its (calibration, held-out)
    loaders, (None, None) without a held-out loader in the config."""
    held_out = held_out_cfg(cfg)
    model = MODELS.build(cfg.model)
    load_weights(model, checkpoint, ema=False)
    loaders = (None, None)
    if held_out is not None and isinstance(model, CreamDetSearch):
        held_out = packing_ground_truth(held_out)  # as its arch hook does
    if held_out is not None:
        loaders = (calibration_loader(cfg.train_dataloader), Runner.build_dataloader(held_out))
    return model, loaders


def path_estimates(cfg, checkpoint: str, paths, calib_batches: Optional[int] = None) -> list:
    """Each path's held-out estimate with a search checkpoint's weights, as
    its arch hook scores the board: bbox mAP in a detection search's
    detector, top-1 (%) in a classification supernet; BN recalibrated."""
    calib_batches = calib_batches or arch_hook_setting(cfg, 'calib_batches')
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model, (calib, held_out) = searched_model(cfg, checkpoint)
        if held_out is None:
            raise ConfigError('the search config has no held-out loader to score paths on')
        if isinstance(model, CreamDetSearch):
            detector = copy.deepcopy(model.detector)  # recalibration changes it
            return [float(recalibrated_map(
                detector, path, calib, held_out, model.data_preprocessor, calib_batches,
                arch_hook_setting(cfg, 'metric')).get('bbox_mAP', 0.)) for path in paths]
        return [path_accuracy(model, path, calib, held_out, calib_batches) for path in paths]


def select_from_checkpoint(cfg, checkpoint: str, out_dir: str, rule: Optional[str] = None,
                           calib_batches: Optional[int] = None,
                           table: Optional[LatencyTable] = None) -> Arch:
    """Redo the choice from a search config and any of its checkpoints, with
    the config's arch hook settings unless ``rule``/``calib_batches`` are
    given; write ``arch.json`` and ``board.json`` to ``out_dir``, priced on
    ``table``'s device when given. A detection-aware search's board is
    scored by held-out bbox mAP, as its hook does."""
    rule = rule or arch_hook_setting(cfg, 'rule')
    calib_batches = calib_batches or arch_hook_setting(cfg, 'calib_batches')
    check_rule(rule, held_out_cfg(cfg))
    # The config's registry scope (mmdet's for a detection search), as the
    # runner sets it, for its datasets and metrics.
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model, loaders = searched_model(cfg, checkpoint)
        if isinstance(model, CreamDetSearch):
            arch, entries = choose_det_arch(model, rule, *loaders, calib_batches,
                                            arch_hook_setting(cfg, 'metric'), table=table)
        else:
            arch, entries = choose_arch(model, rule, *loaders, calib_batches, table=table)
    arch.meta['checkpoint'] = checkpoint
    write_choice(out_dir, arch, entries)
    return arch
