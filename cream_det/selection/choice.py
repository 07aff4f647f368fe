"""The final choice of a search, the same for every search: which board
path becomes the arch, and the files that say so (``arch.json``,
``board.json``). The arch hook makes it when a search ends, and
``tools/select_arch.py`` redoes it from any checkpoint."""
from __future__ import annotations

import json
import os
from typing import Optional

from mmengine.registry import MODELS, DefaultScope

from ..arch import Arch
from ..checkpoint import load_weights
from ..errors import ConfigError
from ..latency import LatencyTable
from .scoring import PathScorer

RULES = ('official', 'held_out')


def predicted_latency(table: Optional[LatencyTable], path) -> dict:
    """``latency_ms`` and ``latency_device`` of a path, {} without a table."""
    if table is None:
        return {}
    return dict(latency_ms=table.latency_ms(path), latency_device=table.device)


def choose_arch(model, rule: str = 'official', scorer: Optional[PathScorer] = None,
                logger=None, table: Optional[LatencyTable] = None) -> tuple[Arch, list[dict]]:
    """The chosen arch (its meta says how) and the board's entries.

    'official' takes the top of the board by its score (the search's
    ``board_score``); with a ``scorer``, every board path the search admits
    (within its constraint, else its supernet's FLOPs budget) is also scored
    on held-out images (``held_out``, the scorer's key, and
    ``held_out_metrics``, all its metric's results), and 'held_out' takes the
    best of them. Under a ``constraint`` the official rule, too, considers
    only the entries it admits. Entries and arch carry their predicted
    latency on ``table``'s device (by default the constraint's table, if it
    has one).
    """
    board = model.board
    entries = board.entries()
    if not entries:
        raise RuntimeError('the search ended with an empty board: train past the '
                           f'warm-up ({model.warmup_iters} iterations) to fill it')
    if table is None and model.constraint is not None:
        table = model.constraint.latency_table
    for i, entry in enumerate(entries):
        entry.update(predicted_latency(table, board.path(i)))
    admitted = [i for i in range(len(entries)) if model.admits(board.path(i))]
    official = chosen = 0
    if model.constraint is not None:
        if not admitted:
            raise RuntimeError(f'no board entry lies within the constraint {model.constraint}')
        official = chosen = admitted[0]
    best = None
    if scorer is not None:
        for i in admitted:
            metrics = scorer.metrics(model, board.path(i))
            entries[i].update(held_out=scorer.score(metrics), held_out_metrics=metrics)
            if best is None or entries[i]['held_out'] > entries[best]['held_out']:
                best = i
        if rule == 'held_out' and best is not None:
            chosen = best
        if logger is not None:
            logger.info(f'held-out choice: board entry {best}, official choice: entry '
                        f'{official}')
    arch = board.arch(chosen)
    arch.meta.update(
        flops=entries[chosen]['flops'], params=entries[chosen]['params'], rule=rule,
        board_entry=chosen, board_score=entries[chosen]['score'],
        **{k: entries[chosen][k] for k in ('held_out', 'held_out_metrics') if k in entries[chosen]},
        score_key=scorer.score_key if scorer is not None else None,
        official_choice=entries[official]['arch'],
        held_out_choice=entries[best]['arch'] if best is not None else None,
        **predicted_latency(table, board.path(chosen)))
    if model.constraint is not None:
        arch.meta['constraint'] = str(model.constraint)
    return arch, entries


def board_summary(board: dict) -> str:
    """The board's size and spread of FLOPs, held-out score (when scored)
    and board score, from ``board.json``'s contents."""
    entries = board['entries']
    flops = [e['flops'] / 1e6 for e in entries]
    text = f'{len(entries)} paths, {min(flops):.2f}-{max(flops):.2f} MFLOPs'
    held_out = [e['held_out'] for e in entries if 'held_out' in e]
    if held_out:
        text += f', held-out {board["score_key"]} {min(held_out):.4g}-{max(held_out):.4g}'
    scores = [e['score'] for e in entries]
    return text + f', board score {min(scores):.4g} to {max(scores):.4g} ({board["board_score"]})'


def write_choice(out_dir: str, arch: Arch, entries: list[dict], model) -> str:
    """``board.json`` (the entries, what the board's score means and the
    held-out key) and ``arch.json`` in ``out_dir``; returns the arch file."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'board.json'), 'w') as f:
        json.dump(dict(board_score=model.board_score, score_key=arch.meta.get('score_key'),
                       entries=entries), f, indent=2)
    path = os.path.join(out_dir, 'arch.json')
    arch.dump(path)
    return path


def check_rule(rule: str, held_out: Optional[dict]) -> None:
    if rule not in RULES:
        raise ConfigError(f'rule={rule!r}: expected one of {RULES}')
    if rule == 'held_out' and held_out is None:
        raise ConfigError("rule='held_out' needs a held_out dataloader config")


def arch_hook_cfg(cfg) -> dict:
    """The search config's arch hook settings ({} without one)."""
    return next((h for h in cfg.get('custom_hooks', []) if h.get('type') == 'CreamArchHook'), {})


def arch_hook_setting(cfg, name: str):
    """A setting of the search config's arch hook, else the search's own
    default (its ``selection_defaults``)."""
    setting = arch_hook_cfg(cfg).get(name)
    if setting is not None:
        return setting
    return MODELS.get(cfg.model.type).selection_defaults[name]


def held_out_cfg(cfg) -> Optional[dict]:
    """The search config's held-out loader: the arch hook's, else ``held_out_dataloader``."""
    return arch_hook_cfg(cfg).get('held_out') or cfg.get('held_out_dataloader')


def searched_model(cfg, checkpoint: str, calib_batches: Optional[int] = None) -> tuple:
    """A search's model with a checkpoint's plain weights (as the hook
    scores them at the end of a run) and its :class:`PathScorer` with the
    config's arch hook settings (None without a held-out loader), built in
    the config's registry scope (mmdet's for a detection search), as the
    runner builds them."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
        load_weights(model, checkpoint, ema=False)
        held_out = held_out_cfg(cfg)
        if held_out is None:
            return model, None
        return model, PathScorer.build(
            model, cfg.train_dataloader, held_out,
            calib_batches or arch_hook_setting(cfg, 'calib_batches'),
            arch_hook_setting(cfg, 'metric'), arch_hook_setting(cfg, 'score_key'))


def path_estimates(cfg, checkpoint: str, paths, calib_batches: Optional[int] = None) -> list:
    """Each path's held-out score with a search checkpoint's weights, as its
    arch hook scores the board (BatchNorm recalibrated)."""
    model, scorer = searched_model(cfg, checkpoint, calib_batches)
    if scorer is None:
        raise ConfigError('the search config has no held-out loader to score paths on')
    return [scorer(model, path) for path in paths]


def select_from_checkpoint(cfg, checkpoint: str, out_dir: str, rule: Optional[str] = None,
                           calib_batches: Optional[int] = None,
                           table: Optional[LatencyTable] = None) -> Arch:
    """Redo the choice from a search config and any of its checkpoints, with
    the config's arch hook settings unless ``rule``/``calib_batches`` are
    given; write ``arch.json`` and ``board.json`` to ``out_dir``, priced on
    ``table``'s device when given."""
    rule = rule or arch_hook_setting(cfg, 'rule')
    check_rule(rule, held_out_cfg(cfg))
    model, scorer = searched_model(cfg, checkpoint, calib_batches)
    arch, entries = choose_arch(model, rule, scorer, table=table)
    arch.meta['checkpoint'] = checkpoint
    write_choice(out_dir, arch, entries, model)
    return arch
