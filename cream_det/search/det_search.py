"""The detection-aware Cream search: prioritized paths of a supernet inside
any mmdet detector, ranked on the detection loss and taught by the board's
best path through channel-wise distillation of the neck's outputs.

DetNAS (Chen et al., NeurIPS 2019) found that backbones ranked on ImageNet
lose to backbones searched on the detection task; no released code runs
Cream's prioritized-path distillation on a detection objective. The
algorithm touches the detector only through ``extract_feat``, ``loss``,
``predict`` (``forward``) and ``backbone``, so RetinaNet, FCOS and any
detector of that interface work unchanged.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS as DET_MODELS
from mmengine.registry import MODELS, DefaultScope

from ..cost import CostTable
from ..detection.data import packing_ground_truth
from ..errors import ConfigError
from ..models import CreamSuperNet
from ..models.batch_norm import bn_stats_frozen
from .board import PrioritizedBoard
from .path_search import OFFICIAL_PRE_PROB, PathSearch, tracked_batch_norms


def channel_wise_divergence(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor],
                            tau: float = 1.0) -> torch.Tensor:
    """Channel-wise distillation (Shu et al., "Channel-wise Knowledge
    Distillation for Dense Prediction", ICCV 2021): each channel of a
    feature map, softened by ``tau``, is a distribution over the spatial
    positions, and the student's is pulled towards the teacher's by
    KL(teacher || student), summed over positions, averaged over channels
    and images, times ``tau ** 2``; then averaged over the maps (FPN levels).

    Unlike a per-position loss, it needs no matching of anchors or points
    between detectors, so it is the same for every dense detector, and it
    lets the student's channels find the teacher's salient regions rather
    than copy activations whose scale the two paths do not share."""
    levels = []
    for s, t in zip(student, teacher):
        s = s.float().flatten(2) / tau
        t = t.float().flatten(2) / tau
        kl = (F.softmax(t, dim=2) * (F.log_softmax(t, dim=2) - F.log_softmax(s, dim=2))).sum(2)
        levels.append(kl.mean() * tau ** 2)
    return torch.stack(levels).mean()


def classifier_cost_table(supernet: CreamSuperNet) -> CostTable:
    """The cost table of ``supernet``'s paths as classifiers at its
    resolution: the measure of the classification search, so that a FLOPs
    (or latency) band selects the same paths in both searches, and their
    choices compare."""
    twin = CreamSuperNet(space=supernet.space, depths=supernet.depths,
                         resolution=supernet.resolution, num_classes=supernet.num_classes,
                         weight_sharing=supernet.weight_sharing)
    return CostTable(twin)


@contextmanager
def features_recorded(detector):
    """Within: every ``detector.extract_feat`` output is appended to the
    list yielded, so that the student's features reach the distillation
    from the one forward that ``detector.loss`` makes."""
    recorded = []
    extract_feat = detector.extract_feat

    def recording(inputs):
        recorded.append(extract_feat(inputs))
        return recorded[-1]
    detector.extract_feat = recording
    try:
        yield recorded
    finally:
        del detector.extract_feat


@MODELS.register_module()
class CreamDetSearch(PathSearch):
    """Prioritized-path training of a supernet backbone inside an mmdet
    detector.

    Per iteration: a path drawn from (seed, iteration) within the
    ``constraint``, as the classification search draws it; after
    ``warmup_iters``, with a non-empty board, the board's best path teaches
    it (``pick_method='top1'``, matching weight 0.5) through
    :func:`channel_wise_divergence` on the ``extract_feat`` outputs;
    the loss is ``(w * kd_weight * cwd + (2 - w) * det) / 2`` as the
    classification search combines KD and CE, with ``det`` the sum of the
    detector's losses; the path's backbone parameters and the rest of the
    detector (neck, head) step; the path enters the board by the official
    rule on its batch's detection loss, averaged over ranks.

    Args:
        detector: an mmdet detector config whose backbone is a
            :class:`CreamSuperNet` with ``out_indices``. Its
            ``data_preprocessor`` is the search's.
        sampling, pre_prob, fixed_arch, constraint, seed: the paths, as in
            :class:`~.cream_search.CreamSearch`. FLOPs and latency are those
            of the path as a classifier at the supernet's resolution, the
            classification search's measure (:func:`classifier_cost_table`).
        pick_method: 'top1' (the board's best entry, matching weight 0.5).
            The meta-matching network scores soft class outputs, which a
            detector does not give per image; it is not offered.
        warmup_iters: iterations trained with the detection loss alone,
            the board left empty.
        pool_size: board capacity.
        acc_gap: the official rule's margin, in loss units here: a path
            enters a full board if its loss is lower than the worst entry's
            by more than ``acc_gap``, or lower at fewer FLOPs. Default 0:
            a detection loss has no scale shared across detectors or data
            like prec@1's 5 points.
        tau, kd_weight: the distillation's temperature and weight (1 and 5,
            the CWD authors' RetinaNet FPN setting, per level there).

    The board ranks on minus the batch's detection loss (a detector gives
    no prec@1); the final choice is by held-out bbox mAP by default: a
    batch's loss ranks paths seen at different moments of training, mAP
    ranks them on the same images with the same weights.
    """
    board_score = 'minus the detection loss of the batch'
    selection_defaults = dict(rule='held_out', calib_batches=5,
                              metric=dict(type='CocoMetric', metric='bbox'),
                              score_key='coco/bbox_mAP')

    def __init__(self,
                 detector: dict,
                 sampling: str = 'released',
                 pre_prob: Sequence[float] = OFFICIAL_PRE_PROB,
                 fixed_arch=None,
                 constraint: Optional[dict] = None,
                 pick_method: str = 'top1',
                 warmup_iters: int = 1000,
                 pool_size: int = 10,
                 acc_gap: float = 0.,
                 tau: float = 1.,
                 kd_weight: float = 5.,
                 seed: int = 0,
                 init_cfg=None):
        if pick_method != 'top1':
            raise ConfigError(f"pick_method={pick_method!r}: expected 'top1' "
                              '(meta-matching scores class outputs per image, which a '
                              'detector does not give)')
        # mmdet's parts (its data preprocessor, built through mmengine's
        # registry) are found in mmdet's scope: the runner's with mmdet's
        # configs, or a downstream one's (mmyolo); mmdet's if no scope or
        # mmengine's is current (left by an earlier runner in the process).
        current = DefaultScope.get_current_instance()
        scope = 'mmdet' if current is None or current.scope_name == 'mmengine' \
            else current.scope_name
        with DefaultScope.overwrite_default_scope(scope):
            detector = DET_MODELS.build(detector)
        if not isinstance(detector.backbone, CreamSuperNet) or detector.backbone.with_head:
            raise ConfigError('CreamDetSearch searches a detector whose backbone is a '
                              'CreamSuperNet with out_indices; got '
                              f'{type(detector.backbone).__name__}')
        super().__init__(data_preprocessor=detector.data_preprocessor, init_cfg=init_cfg)
        self.detector = detector
        self.warmup_iters = warmup_iters
        self.tau, self.kd_weight = tau, kd_weight
        net = self.supernet
        # A top1 teacher needs no slice of images or outputs on the board.
        board = PrioritizedBoard(pool_size, net.space, net.depths, net.resolution,
                                 slice_size=0, num_classes=0, acc_gap=acc_gap)
        self._setup_search(board, classifier_cost_table(net), sampling, pre_prob, fixed_arch,
                           constraint, seed)
        self._batch_norms = tracked_batch_norms(self.detector)
        # What trains besides the path, and what keeps statistics besides
        # it: the detector's other parts (neck, head), whatever they are.
        self._rest = [m for name, m in self.detector.named_children()
                      if m is not net and name != 'data_preprocessor']

    @property
    def supernet(self) -> CreamSuperNet:
        return self.detector.backbone

    def select_teacher(self) -> tuple[float, list[list[int]]]:
        """(matching weight, teacher path): the board's best, as
        CreamSearch's top1."""
        return 0.5, self.board.path(0)

    # -- the step ---------------------------------------------------------
    def train_step(self, data, optim_wrapper):
        data = self.data_preprocessor(data, True)
        inputs, samples = data['inputs'], data['data_samples']
        iteration = int(self.iteration)
        path = self.sample_path(iteration)
        teaching = iteration >= self.warmup_iters and len(self.board) > 0
        log = {}
        with optim_wrapper.optim_context(self):  # autocast under AMP
            teacher_feats = None
            if teaching:
                # First, while no student graph is alive; no gradient, and
                # the BN statistics stay as they are.
                weight, teacher = self.select_teacher()
                self.supernet.set_path(teacher)
                with torch.no_grad(), bn_stats_frozen(self._batch_norms):
                    teacher_feats = self.detector.extract_feat(inputs)
            self.supernet.set_path(path)
            with features_recorded(self.detector) as feats:
                losses = self.detector.loss(inputs, samples)
        det_loss, parts = self.parse_losses(losses)
        loss = det_loss
        if teacher_feats is not None:
            kd = channel_wise_divergence(feats[0], teacher_feats, self.tau)
            loss = (weight * self.kd_weight * kd + (2 - weight) * det_loss) / 2
            log.update(kd_loss=kd.detach(), match_weight=torch.tensor(weight))
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f'non-finite loss ({loss.item()}) at iteration {iteration}; stopped before '
                'the update, the last checkpoint is untouched')
        params = [*self.supernet.path_parameters(path),
                  *(p for m in self._rest for p in m.parameters())]
        self._step(optim_wrapper, loss, params)

        batch_loss = float(self._mean_over_ranks(det_loss.detach()))
        if iteration >= self.warmup_iters:
            self._update_board(-batch_loss, self.cost.flops(path), path, iteration)
        self._average_statistics([*self.supernet.path_modules(path), *self._rest])
        self.iteration += 1
        log.update({k: v.detach() for k, v in parts.items() if k != 'loss'})
        log.update(loss=loss.detach(), det_loss=torch.tensor(batch_loss),
                   score=torch.tensor(-batch_loss), **self._board_log())
        return log

    # -- one path, judged on its own ----------------------------------------------
    def path_network(self, path):
        """A copy of the detector running ``path`` (recalibration changes
        its BatchNorm statistics; the search's stay as they are)."""
        detector = copy.deepcopy(self.detector)
        detector.backbone.set_path(path)
        return detector

    def batch_score(self, data: dict, path) -> float:
        training = self.training
        self.train()
        try:
            self.supernet.set_path(path)
            with torch.no_grad(), bn_stats_frozen(self._batch_norms):
                det_loss, _ = self.parse_losses(self.detector.loss(data['inputs'],
                                                                   data['data_samples']))
        finally:
            self.train(training)
        return -float(det_loss)

    def held_out_loader(self, loader_cfg: dict) -> dict:
        """mmdet's val loaders serve as they are: CocoMetric without an
        annotation file reads the ground truth from the samples."""
        return packing_ground_truth(loader_cfg)

    # -- evaluation ---------------------------------------------------------
    def current_path(self) -> list[list[int]]:
        """What validation runs: the board's best path, or before the board
        opens the path of the current iteration."""
        return self.board.path(0) if len(self.board) else self.sample_path(int(self.iteration))

    def forward(self, inputs, data_samples=None, mode='tensor', path=None):
        """The detector's forward (``mode`` 'loss', 'predict' or 'tensor')
        with ``path``, by default :meth:`current_path`."""
        self.supernet.set_path(self.current_path() if path is None else path)
        return self.detector(inputs, data_samples, mode)
