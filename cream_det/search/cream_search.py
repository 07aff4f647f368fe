"""The Cream search (Peng et al., NeurIPS 2020) as an mmengine model.

One ``train_step`` holds the algorithm, so that mmengine's runner brings
checkpoints, resume, logging, AMP and launchers. Rules follow the official
code (microsoft/Cream, ``lib/core/train.py``, ``PrioritizedBoard``,
``MetaMatchingNetwork``); each deliberate deviation is marked DEVIATION.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine import dist
from mmengine.registry import MODEL_WRAPPERS, MODELS
from torch.func import functional_call

from ..cost import CostTable
from ..errors import ConfigError
from ..models import CreamClassifier, CreamSuperNet
from ..models.batch_norm import bn_stats_frozen, ghost_batches
from ..models.common import inner_args
from .board import PrioritizedBoard
from .path_search import OFFICIAL_PRE_PROB, PathSearch, tracked_batch_norms

PICK_METHODS = ('meta', 'top1')
# The wrapper whose learning rate the look-ahead takes, per option.
LOOKAHEAD_LRS = dict(student='supernet', meta='meta')


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor) -> torch.Tensor:
    return -(soft_targets * F.log_softmax(logits, dim=1)).sum(1).mean()


class MetaMatchingNetwork(nn.Module):
    """Scores how well a board entry would teach the current student: a
    linear layer on (student's softmax − entry's soft output) over the
    entry's stored slice, as the official ``meta_layer``."""

    def __init__(self, num_classes: int, slice_size: int):
        super().__init__()
        self.fc = nn.Linear(num_classes * slice_size, 1)
        # As timm's EfficientNet init gave the official meta_layer: U(-1, 1), bias 0.
        nn.init.uniform_(self.fc.weight, -1., 1.)
        nn.init.zeros_(self.fc.bias)

    def forward(self, difference: torch.Tensor) -> torch.Tensor:
        """(entries, slice, classes) -> one score per entry."""
        return self.fc(difference.flatten(1)).squeeze(1)


@MODELS.register_module()
class CreamSearch(PathSearch):
    """Prioritized-path supernet training.

    Args:
        supernet: :class:`CreamSuperNet` arguments (space, budget or depths,
            num_classes).
        sampling: op probabilities of sampled paths. 'released': uniform,
            what the released code does when its config says 'pre_prob'
            (``np.random.choice(n, size, prob)`` puts the probabilities in
            the ``replace`` position); 'pre_prob': ``pre_prob``, as the paper
            and ``train.yaml`` describe; 'even': uniform (the official
            'even'); 'teacher': op frequencies on the board; 'fixed':
            ``fixed_arch`` alone, trained as a stand-alone network would be
            in the same machinery (the baseline of the learning curves).
        constraint: ``dict(flops=(low, high))`` in MFLOPs and/or
            ``dict(latency_ms=(low, high), table='table.json')`` (a table of
            ``tools/analysis_tools/latency_table.py``): every path drawn,
            hence every board entry and the choice, lies within it (paths
            outside are redrawn). None: the official behaviour, where the
            supernet's budget only sizes it.
        distill: False gives SPOS (Guo et al., ECCV 2020) in the same
            machinery, for comparisons that differ in nothing else: the same
            supernet, sampling, schedule and seeds, CE only, no teacher and no
            meta update; the board is kept by the official rule as a record.
        pick_method: 'meta' (the meta-matching network's best-scored entry)
            or 'top1' (the board's best entry, matching weight 0.5).
        lookahead_lr: the learning rate of the meta update's simulated step:
            'student' (the student's, the step the paper's look-ahead
            simulates) or 'meta' (the meta network's, as the released code's
            ``optimizer.param_groups[-1]['lr']``). DEVIATION: the default is
            'student'; the released code's lr is 1e-4 of the student's, which
            makes the hypergradient about 10^4 times smaller than the
            look-ahead it stands for.
        warmup_iters: the first iterations train with CE only and leave the
            board alone (official: ``META_STA_EPOCH`` 20, i.e. epochs 0-20,
            of 120).
        pool_size, acc_gap, slice_size, update_iter: board capacity, the prec@1
            margin, images kept per entry, iterations between meta updates.
        label_smoothing: of the CE loss.
        seed: paths are drawn from (seed, iteration), so every rank draws the
            same path and a resumed run draws what the straight run would.
    """
    board_score = 'training prec@1 (%) of the batch'
    selection_defaults = dict(rule='official', calib_batches=20,
                              metric=dict(type='TopKAccuracy', topk=(1,)),
                              score_key='accuracy/top1')

    def __init__(self,
                 supernet: dict,
                 sampling: str = 'released',
                 pre_prob: Sequence[float] = OFFICIAL_PRE_PROB,
                 fixed_arch=None,
                 constraint: Optional[dict] = None,
                 distill: bool = True,
                 pick_method: str = 'meta',
                 lookahead_lr: str = 'student',
                 warmup_iters: int = 21 * 1251,
                 pool_size: int = 10,
                 acc_gap: float = 5.,
                 slice_size: int = 4,
                 update_iter: int = 200,
                 label_smoothing: float = 0.1,
                 seed: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pick_method not in PICK_METHODS:
            raise ConfigError(f'pick_method={pick_method!r}: expected one of {PICK_METHODS}')
        if slice_size < 2:
            raise ConfigError(f'slice_size={slice_size}: each board entry is normalised as a '
                              'batch of its own, as in the official forward per entry, which '
                              'needs at least 2 images')
        if lookahead_lr not in LOOKAHEAD_LRS:
            raise ConfigError(f'lookahead_lr={lookahead_lr!r}: expected one of '
                              f'{tuple(LOOKAHEAD_LRS)}')
        self.supernet = CreamSuperNet(**inner_args(supernet, 'CreamSuperNet', 'CreamSearch'))
        self.pick_method, self.lookahead_lr = pick_method, lookahead_lr
        self.distill = distill
        self.warmup_iters, self.update_iter = warmup_iters, update_iter
        self.slice_size, self.label_smoothing = slice_size, label_smoothing
        net = self.supernet
        board = PrioritizedBoard(pool_size, net.space, net.depths, net.resolution,
                                 slice_size, net.num_classes, acc_gap)
        self.meta = MetaMatchingNetwork(net.num_classes, slice_size)
        self._setup_search(board, CostTable(net), sampling, pre_prob, fixed_arch, constraint,
                           seed)
        self._batch_norms = tracked_batch_norms(self.supernet)

    # -- the step ---------------------------------------------------------
    def train_step(self, data, optim_wrapper):
        data = self.data_preprocessor(data, True)
        inputs = data['inputs']
        labels = torch.as_tensor(data['data_samples'], device=inputs.device)
        iteration = int(self.iteration)
        path = self.sample_path(iteration)
        flops = self.cost.flops(path)
        after_warmup = iteration >= self.warmup_iters
        teaching = after_warmup and self.distill and len(self.board) > 0
        log = {}
        # The look-ahead needs two slices of the batch, and a network to train.
        if teaching and iteration > 0 and iteration % self.update_iter == 0 \
                and self.pick_method == 'meta' and len(inputs) >= 2 * self.slice_size:
            log['meta_loss'] = self.meta_update(inputs, labels, path, optim_wrapper)

        student_optim = optim_wrapper['supernet']
        with student_optim.optim_context(self.supernet):  # autocast under AMP
            # The teacher's forwards come first: they need no gradient, and
            # run before the student's graph is alive they work in less
            # memory. The student's weights are the same either way, and
            # these forwards leave BN statistics alone.
            teacher_logits = None
            if teaching:
                with torch.no_grad():
                    weight, teacher = self.select_teacher(path)
                    with bn_stats_frozen(self._batch_norms):
                        teacher_logits = self.supernet(inputs, teacher).float()
            logits = self.supernet(inputs, path).float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        if teacher_logits is not None:
            kd = soft_cross_entropy(logits, F.softmax(teacher_logits, dim=1))
            # DEVIATION: the matching weight is a constant here; officially
            # the main loss also trained the meta layer and, through the last
            # board forward, the student.
            loss = (weight * kd + (2 - weight) * loss) / 2
            log.update(kd_loss=kd.detach(), match_weight=torch.tensor(weight))
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f'non-finite loss ({loss.item()}) at iteration {iteration}; stopped before '
                'the update, the last checkpoint is untouched')
        self._step(student_optim, loss, self.supernet.path_parameters(path))

        prec1 = (logits.argmax(1) == labels).float().mean() * 100
        prec1 = float(self._mean_over_ranks(prec1.detach()))
        if after_warmup:
            # The official code keeps the student's output when the board is
            # empty and the teacher's afterwards.
            source = logits if teacher_logits is None else teacher_logits
            self._update_board(prec1, flops, path, iteration, inputs[:self.slice_size],
                               source[:self.slice_size])
        self._average_statistics(self.supernet.path_modules(path))
        self.iteration += 1
        log.update(loss=loss.detach(), prec1=torch.tensor(prec1), score=torch.tensor(prec1),
                   **self._board_log())
        return log

    # -- the board ---------------------------------------------------------
    def match_scores(self, path) -> torch.Tensor:
        """Meta-matching scores of every board entry for the student ``path``,
        in one forward of all entries' slices, each entry normalised with its
        own batch statistics (ghost batches), so that the scores are those of
        the official forward per entry."""
        n = len(self.board)
        with torch.no_grad(), ghost_batches(self._batch_norms, n):
            images = self.board.inputs[:n].flatten(0, 1)
            student = F.softmax(self.supernet(images, path).float(), dim=1)
        difference = student.view(n, self.slice_size, -1) - self.board.soft_outputs[:n]
        return self.meta(difference)

    def select_teacher(self, path) -> tuple[float, list[list[int]]]:
        """(matching weight, teacher path). DEVIATION: the weight is that of
        the chosen entry; the official code uses the last entry's score."""
        if self.pick_method == 'top1':
            return 0.5, self.board.path(0)
        with torch.no_grad():
            scores = self.match_scores(path)
        best = int(scores.argmax())
        return float(torch.sigmoid(-scores[best])), self.board.path(best)

    # -- meta-matching update -----------------------------------------------
    def meta_update(self, inputs, labels, path, optim_wrapper) -> torch.Tensor:
        """The one-step look-ahead hypergradient of the paper.

        KD on a first slice, weighted by the matching weight, gives the
        student gradient g (with graph); w' = w - lr * g; CE on the next slice
        at w' (label-smoothed, as the official loss) is differentiated with
        respect to the meta network, through w', over every parameter of the
        student path. Forwards leave BN statistics alone; gradients are taken
        of the losses times the wrappers' loss scales, and the steps go
        through the wrappers, which unscale and clip (``clip_grad`` of the
        config). It runs in full precision even under AMP: in bf16 autocast
        its hypergradient came out 2.8 times the fp32 one on a tiny case
        (the second-order terms cancel), and it runs once every
        ``update_iter`` steps. DEVIATION: the official code passes only the first
        parameter (a zip truncates ``grad_outputs``), never all-reduces the
        meta gradients, and clips the student's step here at 1 whatever the
        config; here that step is clipped as every student step is.
        """
        s = self.slice_size
        x1, x2, y2 = inputs[:s], inputs[s:2 * s], labels[s:2 * s]
        names, params = zip(*self._path_named_parameters(path))
        student_optim, meta_optim = optim_wrapper['supernet'], optim_wrapper['meta']

        with bn_stats_frozen(self._batch_norms):
            scores = self.match_scores(path)  # with grad to the meta network
            best = int(scores.argmax())
            weight = torch.sigmoid(-scores[best])
            with torch.no_grad():
                soft = F.softmax(self.supernet(x1, self.board.path(best)).float(), dim=1)
            kd = weight * soft_cross_entropy(self.supernet(x1, path).float(), soft)
            scaled_kd, scale = _scaled(student_optim, kd)
            scaled_grads = torch.autograd.grad(scaled_kd, params, create_graph=True)
            lr = optim_wrapper[LOOKAHEAD_LRS[self.lookahead_lr]].get_lr()['lr'][0]
            lookahead = {n: p - lr * g / scale for n, p, g in zip(names, params, scaled_grads)}
            ce = F.cross_entropy(functional_call(self.supernet, lookahead, (x2, path)).float(),
                                 y2, label_smoothing=self.label_smoothing)
        meta_params = list(self.meta.parameters())
        meta_grads = torch.autograd.grad(_scaled(meta_optim, ce)[0], meta_params)

        # The real student step with g, as the official update does; after the
        # look-ahead, which needs the weights as they were.
        self._step_with(student_optim, params, scaled_grads)
        self._step_with(meta_optim, meta_params, meta_grads)
        return ce.detach()

    def _step_with(self, optim_wrapper, params, scaled_grads) -> None:
        """A wrapper's step on gradients taken by hand (of a loss already
        multiplied by the wrapper's loss scale, as its backward would)."""
        for p, g in zip(params, scaled_grads):
            p.grad = g.detach()
        self._average_grads(params)
        optim_wrapper.step()
        optim_wrapper.zero_grad()

    # -- one path, judged on its own ----------------------------------------------
    def path_network(self, path) -> CreamClassifier:
        """The child of ``path`` as a classifier (its predictions are what
        ``TopKAccuracy`` reads), on the supernet's device."""
        child = self.supernet.export_child(path).to(next(self.supernet.parameters()).device)
        return CreamClassifier(backbone=child, data_preprocessor=self.data_preprocessor)

    def batch_score(self, data: dict, path) -> float:
        labels = torch.as_tensor(data['data_samples'], device=data['inputs'].device)
        training = self.training
        self.train()
        try:
            with torch.no_grad(), bn_stats_frozen(self._batch_norms):
                logits = self.supernet(data['inputs'], path)
        finally:
            self.train(training)
        return float((logits.argmax(1) == labels).float().mean() * 100)

    def _path_named_parameters(self, path):
        ids = {id(p) for p in self.supernet.path_parameters(path)}
        return [(n, p) for n, p in self.supernet.named_parameters() if id(p) in ids]

    # -- evaluation of one path ------------------------------------------------
    def forward(self, inputs, data_samples=None, mode='tensor', path=None):
        if path is None:
            path = self.board.path(0) if len(self.board) else self.sample_path(int(self.iteration))
        logits = self.supernet(inputs, path)
        if mode == 'loss':
            labels = torch.as_tensor(data_samples, device=inputs.device)
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


def _scaled(optim_wrapper, loss: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The loss as an mmengine wrapper's ``backward`` would differentiate it
    (times an ``AmpOptimWrapper``'s loss scale), and that scale."""
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    if scaler is None or not scaler.is_enabled():
        return loss, 1.
    return scaler.scale(loss), float(scaler.get_scale())


@MODEL_WRAPPERS.register_module()
class CreamSearchParallel(nn.Module):
    """The searches' model wrapper under a distributed launcher (the
    classification and the detection search): rank 0's weights and buffers
    (board included) are broadcast once, and the model's own ``train_step``
    averages gradients over ranks (:class:`~.path_search.PathSearch`)."""

    def __init__(self, module: PathSearch, **kwargs):
        super().__init__()
        self.module = module
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)

    def train_step(self, data, optim_wrapper):
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data):
        return self.module.val_step(data)

    def test_step(self, data):
        return self.module.test_step(data)
