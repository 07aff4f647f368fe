"""Choosing the final arch when a search ends, and writing it out."""
from __future__ import annotations

from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from .det_choice import choose_det_arch, det_board_summary, packing_ground_truth
from .scoring import calibration_loader, random_state_kept
from .choice import board_summary, check_rule, choose_arch, write_choice


@HOOKS.register_module()
class CreamArchHook(Hook):
    """After training, write ``board.json`` (every entry) and ``arch.json``
    (the chosen arch) to the work dir (:func:`~.selection.choose_arch`).

    Two rules are reported: the official one, the top of the board by
    training prec@1, and, with ``held_out`` (a dataloader config), the board
    path within the FLOPs budget with the best held-out accuracy, its weights
    inherited from the supernet and its BatchNorm recalibrated on
    ``calib_batches`` training batches. ``rule`` says which one arch.json holds.

    The held-out and calibration loaders are built, and one batch of each
    read, before training starts: a mistake in their config stops the run
    then, not after the whole search.
    """
    priority = 'LOW'

    def __init__(self, rule: str = 'official', held_out: Optional[dict] = None,
                 calib_batches: int = 20):
        check_rule(rule, held_out)
        self.rule, self.held_out, self.calib_batches = rule, held_out, calib_batches
        self.loaders = (None, None)

    def before_train(self, runner) -> None:
        if self.held_out is None or not is_main_process():
            return
        with random_state_kept():  # the search draws what it would without the check
            calib, held_out = (calibration_loader(runner.cfg.train_dataloader),
                               Runner.build_dataloader(self.held_out))
            for loader in (calib, held_out):
                next(iter(loader))
        self.loaders = (calib, held_out)

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        arch, entries = self.choose(model, runner.logger)
        path = write_choice(runner.work_dir, arch, entries)
        runner.logger.info(f'chosen arch ({self.rule} rule): {arch}, '
                           f'{arch.meta["flops"] / 1e6:.2f} MFLOPs -> {path}; the board: '
                           f'{self.summary(entries)}; constraint '
                           f'{arch.meta.get("constraint", "none")}')

    def choose(self, model, logger) -> tuple:
        return choose_arch(model, self.rule, *self.loaders, self.calib_batches, logger=logger)

    summary = staticmethod(board_summary)


@HOOKS.register_module()
class CreamDetArchHook(CreamArchHook):
    """The arch hook of the detection-aware search
    (:func:`~.det_selection.choose_det_arch`): after training,
    ``board.json`` with every entry's detection loss and, with ``held_out``,
    its held-out bbox mAP after BatchNorm recalibration on
    ``calib_batches`` training batches (``metric``, mmdet's CocoMetric by
    default), and ``arch.json``, by default the best held-out mAP: a
    batch's loss ranks paths seen at different moments of training, mAP
    ranks them on the same images with the same weights. The held-out
    loader's ``PackDetInputs`` is made to pack the ground truth
    (:func:`~.det_selection.packing_ground_truth`), so a val loader of
    mmdet's configs serves as it is."""

    def __init__(self, rule: str = 'held_out', held_out: Optional[dict] = None,
                 calib_batches: int = 5, metric: Optional[dict] = None):
        if held_out is not None:
            held_out = packing_ground_truth(held_out)
        super().__init__(rule, held_out, calib_batches)
        self.metric = metric

    def choose(self, model, logger) -> tuple:
        return choose_det_arch(model, self.rule, *self.loaders, self.calib_batches,
                               self.metric, logger=logger)

    summary = staticmethod(det_board_summary)
