"""The Cream search (Peng et al., NeurIPS 2020) as an mmengine model.

One ``train_step`` holds the algorithm, so that mmengine's runner brings
checkpoints, resume, logging, AMP and launchers. Rules follow the official
code (microsoft/Cream, ``lib/core/train.py``, ``PrioritizedBoard``,
``MetaMatchingNetwork``); each deliberate deviation is marked DEVIATION.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine import dist
from mmengine.model import BaseModel
from mmengine.registry import MODEL_WRAPPERS, MODELS
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from ..archs import resolve_arch
from ..cost import CostTable
from ..errors import ConfigError
from ..models import CreamSuperNet
from ..models.common import inner_args
from .board import PrioritizedBoard

# The official sampling probabilities of k3e4 k3e6 k5e4 k5e6 k7e4 k7e6.
OFFICIAL_PRE_PROB = (0.05, 0.2, 0.05, 0.5, 0.05, 0.15)
SAMPLING_MODES = ('pre_prob', 'even', 'teacher', 'fixed')
PICK_METHODS = ('meta', 'top1')


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor) -> torch.Tensor:
    return -(soft_targets * F.log_softmax(logits, dim=1)).sum(1).mean()


@contextmanager
def bn_stats_frozen(bns: list):
    """Forward with batch statistics, as in training, without moving the
    running statistics of ``bns`` (momentum 0, counter restored).

    DEVIATION: the official board and teacher forwards run in train mode and
    update the running statistics with teacher and board batches.
    """
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(bns, saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


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
class CreamSearch(BaseModel):
    """Prioritized-path supernet training.

    Args:
        supernet: :class:`CreamSuperNet` arguments (space, budget or depths,
            num_classes).
        sampling: op probabilities of sampled paths: 'pre_prob' (``pre_prob``),
            'even', or 'teacher' (op frequencies on the board); or 'fixed':
            ``fixed_arch`` alone, trained as a stand-alone network would be
            in the same machinery (the baseline of the learning curves).
        pick_method: 'meta' (the meta-matching network's best-scored entry)
            or 'top1' (the board's best entry, matching weight 0.5).
        warmup_iters: the first iterations train with CE only and leave the
            board alone (official: ``META_STA_EPOCH`` 20, i.e. epochs 0-20,
            of 120).
        pool_size, acc_gap, slice_size, update_iter: board capacity, the prec@1
            margin, images kept per entry, iterations between meta updates.
        label_smoothing: of the CE loss.
        seed: paths are drawn from (seed, iteration), so every rank draws the
            same path and a resumed run draws what the straight run would.
    """

    def __init__(self,
                 supernet: dict,
                 sampling: str = 'pre_prob',
                 pre_prob: Sequence[float] = OFFICIAL_PRE_PROB,
                 fixed_arch=None,
                 pick_method: str = 'meta',
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
        if sampling not in SAMPLING_MODES:
            raise ConfigError(f'sampling={sampling!r}: expected one of {SAMPLING_MODES}')
        if pick_method not in PICK_METHODS:
            raise ConfigError(f'pick_method={pick_method!r}: expected one of {PICK_METHODS}')
        self.supernet = CreamSuperNet(**inner_args(supernet, 'CreamSuperNet', 'CreamSearch'))
        self.num_ops = len(self.supernet.space.ops)
        if sampling == 'pre_prob' and (len(pre_prob) != self.num_ops
                                       or abs(sum(pre_prob) - 1) > 1e-6 or min(pre_prob) < 0):
            raise ConfigError(f'pre_prob={tuple(pre_prob)}: expected {self.num_ops} '
                              'probabilities summing to 1')
        self.sampling, self.pick_method = sampling, pick_method
        if (sampling == 'fixed') != (fixed_arch is not None):
            raise ConfigError("give fixed_arch with sampling='fixed', and only then")
        self.fixed_path = None if fixed_arch is None \
            else self.supernet.path_of(resolve_arch(fixed_arch))
        self.register_buffer('pre_prob', torch.tensor(pre_prob, dtype=torch.float64),
                             persistent=False)
        self.warmup_iters, self.update_iter = warmup_iters, update_iter
        self.slice_size, self.label_smoothing, self.seed = slice_size, label_smoothing, seed
        net = self.supernet
        self.cost = CostTable(net)
        self.board = PrioritizedBoard(pool_size, net.space, net.depths, net.resolution,
                                      slice_size, net.num_classes, acc_gap)
        self.meta = MetaMatchingNetwork(net.num_classes, slice_size)
        self.register_buffer('iteration', torch.zeros((), dtype=torch.long))
        # Listed once: walking the supernet's modules on every forward would
        # cost a few thousand visits a step.
        self._batch_norms = [m for m in self.supernet.modules()
                             if isinstance(m, _BatchNorm) and m.track_running_stats]

    # -- paths -----------------------------------------------------------
    def op_probabilities(self) -> Optional[torch.Tensor]:
        if self.sampling == 'pre_prob':
            return self.pre_prob
        if self.sampling == 'teacher' and len(self.board):
            return self.board.op_frequencies()
        return None  # even

    def sample_path(self, iteration: int) -> list[list[int]]:
        """The path of an iteration: drawn from (seed, iteration) alone, so
        that every rank draws the same and a resumed run draws what the
        straight run would.

        DEVIATION: the official search draws one op per *template entry*, so
        in the supernets whose third stage has five layers the fifth is built
        but never run; here every built layer is searched."""
        if self.fixed_path is not None:
            return self.fixed_path
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + iteration)
        return self.supernet.sample_path(generator, self.op_probabilities())

    # -- the step ---------------------------------------------------------
    def train_step(self, data, optim_wrapper):
        data = self.data_preprocessor(data, True)
        inputs = data['inputs']
        labels = torch.as_tensor(data['data_samples'], device=inputs.device)
        iteration = int(self.iteration)
        path = self.sample_path(iteration)
        flops = self.cost.flops(path)
        after_warmup = iteration >= self.warmup_iters
        log = {}
        # The look-ahead needs two slices of the batch, and a network to train.
        if after_warmup and len(self.board) and iteration > 0 \
                and iteration % self.update_iter == 0 and self.pick_method == 'meta' \
                and len(inputs) >= 2 * self.slice_size:
            log['meta_loss'] = self.meta_update(inputs, labels, path, optim_wrapper)

        # The teacher's forwards come first: they need no gradient, and run
        # before the student's graph is alive they work in less memory. The
        # student's weights are the same either way, and these forwards leave
        # BN statistics alone.
        teacher_logits = None
        if after_warmup and len(self.board):
            with torch.no_grad():
                weight, teacher = self.select_teacher(path)
                with bn_stats_frozen(self._batch_norms):
                    teacher_logits = self.supernet(inputs, teacher)

        logits = self.supernet(inputs, path)
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
        self._step(optim_wrapper['supernet'], loss, self.supernet.path_parameters(path))

        prec1 = (logits.argmax(1) == labels).float().mean() * 100
        prec1 = float(self._mean_over_ranks(prec1.detach()))
        if after_warmup:
            self._update_board(prec1, flops, path, inputs, logits, teacher_logits, iteration)
        self._average_bn_statistics(path)
        self.iteration += 1
        log.update(loss=loss.detach(), prec1=torch.tensor(prec1),
                   board_size=torch.tensor(float(len(self.board))))
        if len(self.board):
            log.update(board_best=self.board.prec1[0].clone(),
                       board_worst=self.board.prec1[len(self.board) - 1].clone())
        return log

    def _step(self, optim_wrapper, loss, params) -> None:
        """Backward, average the gradients over ranks, step. Only the sampled
        path has gradients, which DDP's bucketed all-reduce does not expect,
        and the meta update needs ``autograd.grad``, which DDP does not sync.

        DEVIATION: the official code averages nothing by hand (its DDP wraps
        the supernet); here path and meta gradients, prec@1 and the path's
        BatchNorm statistics are averaged over ranks every step, so that all
        ranks keep one supernet and one board."""
        optim_wrapper.backward(loss)
        self._average_grads(params)
        optim_wrapper.step()
        optim_wrapper.zero_grad()

    @staticmethod
    def _average_grads(params) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        dist.all_reduce_params(grads, op='mean')

    def _average_bn_statistics(self, path) -> None:
        """Running statistics are gathered on each rank's own batch; their
        mean over ranks keeps every rank's copy of the supernet identical."""
        stats = [b for m in self.supernet.path_modules(path) for b in m.buffers()
                 if b.is_floating_point()]
        dist.all_reduce_params(stats, op='mean')

    @staticmethod
    def _mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
        value = value.clone()
        dist.all_reduce(value, op='mean')
        return value

    # -- the board ---------------------------------------------------------
    def _update_board(self, prec1, flops, path, inputs, logits, teacher_logits, iteration):
        if not self.board.should_insert(prec1, flops):
            return
        # Every rank inserts the same path with rank 0's slice, so that the
        # boards stay identical.
        slice_inputs = inputs[:self.slice_size].detach().clone()
        # The official code keeps the student's output when the board is
        # empty and the teacher's afterwards.
        source = logits if teacher_logits is None else teacher_logits
        slice_logits = source[:self.slice_size].detach().float().clone()
        dist.broadcast(slice_inputs, src=0)
        dist.broadcast(slice_logits, src=0)
        params = self.cost.params(path)
        self.board.insert(prec1, flops, params, path, slice_inputs, slice_logits, iteration)

    def match_scores(self, path) -> torch.Tensor:
        """Meta-matching scores of every board entry for the student ``path``,
        in one batched forward of all entries' slices."""
        n = len(self.board)
        with torch.no_grad(), bn_stats_frozen(self._batch_norms):
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
        at w' is differentiated with respect to the meta network, through w',
        over every parameter of the student path. DEVIATION: the official
        code passes only the first parameter (a zip truncates
        ``grad_outputs``) and never all-reduces the meta gradients.
        """
        s = self.slice_size
        x1, x2, y2 = inputs[:s], inputs[s:2 * s], labels[s:2 * s]
        names, params = zip(*self._path_named_parameters(path))

        scores = self.match_scores(path)  # with grad to the meta network
        best = int(scores.argmax()) if self.pick_method == 'meta' else 0
        weight = torch.sigmoid(-scores[best])
        teacher = self.board.path(best)
        with torch.no_grad(), bn_stats_frozen(self._batch_norms):
            soft = F.softmax(self.supernet(x1, teacher), dim=1)
        kd = weight * soft_cross_entropy(self.supernet(x1, path), soft)
        grads = torch.autograd.grad(kd, params, create_graph=True)
        lr = optim_wrapper['supernet'].get_lr()['lr'][0]
        lookahead = {n: p - lr * g for n, p, g in zip(names, params, grads)}

        with bn_stats_frozen(self._batch_norms):
            ce = F.cross_entropy(functional_call(self.supernet, lookahead, (x2, path)), y2)
        meta_params = list(self.meta.parameters())
        meta_grads = torch.autograd.grad(ce, meta_params)

        # The real student step with g, as the official update does; after the
        # look-ahead, which needs the weights as they were.
        student_optim = optim_wrapper['supernet']
        for p, g in zip(params, grads):
            p.grad = g.detach()
        self._average_grads(params)
        torch.nn.utils.clip_grad_norm_(params, 1.)
        student_optim.step()
        student_optim.zero_grad()

        meta_optim = optim_wrapper['meta']
        for p, g in zip(meta_params, meta_grads):
            p.grad = g
        self._average_grads(meta_params)
        torch.nn.utils.clip_grad_norm_(meta_params, 1.)
        meta_optim.step()
        meta_optim.zero_grad()
        return ce.detach()

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


@MODEL_WRAPPERS.register_module()
class CreamSearchParallel(nn.Module):
    """The search's model wrapper under a distributed launcher: rank 0's
    weights and buffers (board included) are broadcast once, and the
    model's own ``train_step`` averages gradients over ranks."""

    def __init__(self, module: CreamSearch, **kwargs):
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
