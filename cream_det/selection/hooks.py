"""Choosing the final arch when a search ends, and writing it out."""
from __future__ import annotations

from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from .choice import board_summary, check_rule, choose_arch, write_choice
from .scoring import PathScorer, random_state_kept


@HOOKS.register_module()
class CreamArchHook(Hook):
    """After training, write ``board.json`` (every entry) and ``arch.json``
    (the chosen arch) to the work dir (:func:`~.choice.choose_arch`), for
    any search.

    Two rules are reported: the official one, the top of the board by the
    search's board score, and, with ``held_out`` (a dataloader config), the
    board path with the best held-out score: its weights inherited from the
    supernet, its BatchNorm recalibrated on ``calib_batches`` training
    batches, scored by ``metric`` (an mmengine metric config) under
    ``score_key``. ``rule`` says which one arch.json holds. A setting left
    None is the search's own (``selection_defaults``: top-1 and the
    official rule for :class:`~cream_det.search.CreamSearch`, bbox mAP and
    the held-out rule for :class:`~cream_det.search.CreamDetSearch`).

    The held-out and calibration loaders are built, and one batch of each
    read, before training starts: a mistake in their config stops the run
    then, not after the whole search.
    """
    priority = 'LOW'

    def __init__(self, rule: Optional[str] = None, held_out: Optional[dict] = None,
                 calib_batches: Optional[int] = None, metric: Optional[dict] = None,
                 score_key: Optional[str] = None):
        if rule is not None:
            check_rule(rule, held_out)
        self.rule, self.held_out, self.calib_batches = rule, held_out, calib_batches
        self.metric, self.score_key = metric, score_key
        self.scorer = None

    def before_train(self, runner) -> None:
        model = self._search(runner)
        self.rule = self.rule or model.selection_defaults['rule']
        check_rule(self.rule, self.held_out)
        if self.held_out is None or not is_main_process():
            return
        with random_state_kept():  # the search draws what it would without the check
            self.scorer = PathScorer.build(model, runner.cfg.train_dataloader, self.held_out,
                                           self.calib_batches, self.metric, self.score_key)
            for loader in (self.scorer.calib_loader, self.scorer.eval_loader):
                next(iter(loader))

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = self._search(runner)
        arch, entries = choose_arch(model, self.rule, self.scorer, logger=runner.logger)
        path = write_choice(runner.work_dir, arch, entries, model)
        summary = board_summary(dict(entries=entries, board_score=model.board_score,
                                     score_key=arch.meta['score_key']))
        runner.logger.info(f'chosen arch ({self.rule} rule): {arch}, '
                           f'{arch.meta["flops"] / 1e6:.2f} MFLOPs -> {path}; the board: '
                           f'{summary}; constraint {arch.meta.get("constraint", "none")}')

    @staticmethod
    def _search(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model
