"""What every search over a :class:`CreamSuperNet`'s paths shares, whatever
it trains the paths on (classification, :class:`~.cream_search.CreamSearch`;
detection, :class:`~.det_search.CreamDetSearch`): the path of an iteration,
drawn from (seed, iteration) within the constraint; the ``iteration`` and the
board in buffers, so that a checkpoint resumes them; the step of the sampled
path, averaged over ranks; the board's update, identical on every rank.

Kept in one place so that the two searches cannot drift apart in the rules
that make a run seeded, resumable and rank-identical.
"""
from __future__ import annotations

import copy
from typing import Iterable, Optional, Sequence

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.model import BaseModel
from torch.nn.modules.batchnorm import _BatchNorm

from ..archs import resolve_arch
from ..cost import CostTable
from ..errors import ConfigError
from .board import PrioritizedBoard
from .constraint import Constraint

# The sampling probabilities of k3e4 k3e6 k5e4 k5e6 k7e4 k7e6 in the paper
# and the official train.yaml (the released code does not apply them).
OFFICIAL_PRE_PROB = (0.05, 0.2, 0.05, 0.5, 0.05, 0.15)
SAMPLING_MODES = ('released', 'pre_prob', 'even', 'teacher', 'fixed')


def tracked_batch_norms(module: nn.Module) -> list:
    """The BatchNorm layers of ``module`` that keep running statistics.
    Listed once by a search: walking a supernet's modules on every forward
    would cost a few thousand visits a step."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


class PathSearch(BaseModel):
    """The base of the searches. A subclass makes ``self.supernet`` reachable
    (a submodule or a property), then calls :meth:`_setup_search`.

    See :class:`~.cream_search.CreamSearch` for ``sampling``, ``pre_prob``,
    ``fixed_arch``, ``constraint`` and ``seed``.

    Each search declares how its paths are judged, so that one selection
    mechanism (:mod:`cream_det.selection`) serves every search:
    ``board_score``, what the board ranks by (higher is better), and
    ``selection_defaults``, the arch hook's defaults: the ``rule``, the
    ``calib_batches`` of BatchNorm recalibration, and the held-out
    ``metric`` (an mmengine metric config) with the ``score_key`` of its
    results that scores a path.
    """
    board_score: str
    selection_defaults: dict

    def path_network(self, path) -> BaseModel:
        """A network of its own running ``path`` with the weights it
        inherits: what held-out scoring recalibrates and evaluates (its
        ``data_preprocessor``, ``mode='tensor'`` and ``mode='predict'``, as
        the search's metric reads the predictions)."""
        raise NotImplementedError

    def batch_score(self, data: dict, path) -> float:
        """The board's score of ``path`` on one preprocessed training batch,
        measured as the search measures it (BatchNorm on the batch's
        statistics, running statistics untouched), without training."""
        raise NotImplementedError

    @staticmethod
    def adapt_state_dict(state: dict) -> dict:
        """Checkpoints of searches from before the board's ``score`` load
        too (``load_weights`` checks the keys first)."""
        return PrioritizedBoard.upgrade(dict(state), 'board.')

    def held_out_loader(self, loader_cfg: dict) -> dict:
        """The held-out loader config as this search's metric needs it."""
        return copy.deepcopy(loader_cfg)

    def _setup_search(self, board: PrioritizedBoard, cost: CostTable, sampling: str,
                      pre_prob: Sequence[float], fixed_arch, constraint: Optional[dict],
                      seed: int) -> None:
        if sampling not in SAMPLING_MODES:
            raise ConfigError(f'sampling={sampling!r}: expected one of {SAMPLING_MODES}')
        self.num_ops = len(self.supernet.space.ops)
        if sampling == 'pre_prob' and (len(pre_prob) != self.num_ops
                                       or abs(sum(pre_prob) - 1) > 1e-6 or min(pre_prob) < 0):
            raise ConfigError(f'pre_prob={tuple(pre_prob)}: expected {self.num_ops} '
                              'probabilities summing to 1')
        if (sampling == 'fixed') != (fixed_arch is not None):
            raise ConfigError("give fixed_arch with sampling='fixed', and only then")
        self.sampling, self.seed = sampling, seed
        self.fixed_path = None if fixed_arch is None \
            else self.supernet.path_of(resolve_arch(fixed_arch))
        self.register_buffer('pre_prob', torch.tensor(pre_prob, dtype=torch.float64),
                             persistent=False)
        self.cost, self.board = cost, board
        self.constraint = Constraint.build(constraint, cost, self.supernet)
        if self.constraint is not None:
            if self.fixed_path is not None and not self.constraint.admits(self.fixed_path):
                raise ConfigError(f'fixed_arch ({cost.flops(self.fixed_path) / 1e6:.2f} '
                                  f'MFLOPs) lies outside the constraint {self.constraint}')
            self.constraint.check_reachable(self._sampler(self.op_probabilities()))
        self.register_buffer('iteration', torch.zeros((), dtype=torch.long))

    # -- paths -----------------------------------------------------------
    def op_probabilities(self) -> Optional[torch.Tensor]:
        if self.sampling == 'pre_prob':
            return self.pre_prob
        if self.sampling == 'teacher' and len(self.board):
            return self.board.op_frequencies()
        return None  # uniform

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
        return self.draw_path(generator, self.op_probabilities(), f'iteration {iteration}')

    def draw_path(self, generator: torch.Generator, probabilities=None,
                  what: str = 'a path') -> list[list[int]]:
        """A path drawn with ``probabilities`` (uniform if None), redrawn
        until the constraint admits it."""
        sample = self._sampler(probabilities)
        if self.constraint is None:
            return sample(generator)
        return self.constraint.draw(sample, generator, what)

    def admits(self, path) -> bool:
        """Within the constraint; without one, within the supernet's budget."""
        if self.constraint is not None:
            return self.constraint.admits(path)
        low, high = self.supernet.budget or (0, float('inf'))
        return low <= self.cost.flops(path) / 1e6 <= high

    def _sampler(self, probabilities):
        return lambda generator: self.supernet.sample_path(generator, probabilities)

    # -- the step, the same on every rank ------------------------------------
    def _step(self, optim_wrapper, loss, params) -> None:
        """Backward, average the gradients over ranks, step (the wrapper
        scales, unscales and clips). Only the sampled path has gradients,
        which DDP's bucketed all-reduce does not expect, and the meta update
        needs ``autograd.grad``, which DDP does not sync.

        DEVIATION: the official code averages nothing by hand (its DDP wraps
        the supernet); here the gradients (path, meta network, detector
        head), the board's score and the path's
        BatchNorm statistics are averaged over ranks every step, so that all
        ranks keep one supernet and one board.

        DEVIATION: weight decay and momentum move the sampled path only. The
        official torch 1.2 loop zeroes gradients in place, so every op ever
        sampled keeps a zero gradient and goes on decaying (about 6 times the
        decay on op weights, with 6 ops a layer); here the other ops' grads
        are None, and an op's weights change only when it is trained."""
        optim_wrapper.backward(loss)
        self._average_grads(params)
        optim_wrapper.step()
        optim_wrapper.zero_grad()

    @staticmethod
    def _average_grads(params) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        dist.all_reduce_params(grads, op='mean')

    @staticmethod
    def _average_statistics(modules: Iterable[nn.Module]) -> None:
        """Running statistics are gathered on each rank's own batch; their
        mean over ranks keeps every rank's copy of the modules identical."""
        stats = [b for m in modules for b in m.buffers() if b.is_floating_point()]
        dist.all_reduce_params(stats, op='mean')

    @staticmethod
    def _mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
        value = value.clone()
        dist.all_reduce(value, op='mean')
        return value

    # -- the board ---------------------------------------------------------
    def _update_board(self, score: float, flops: int, path, iteration: int,
                      inputs: Optional[torch.Tensor] = None,
                      logits: Optional[torch.Tensor] = None) -> None:
        """Insert ``path`` by the official rule on ``score`` (higher is
        better; the same on every rank, averaged over ranks by the caller).
        Every rank inserts rank 0's slice of images and outputs, if the
        board keeps one, so that the boards stay identical."""
        if not self.board.should_insert(score, flops):
            return
        if inputs is not None:
            inputs, logits = inputs.detach().clone(), logits.detach().float().clone()
            dist.broadcast(inputs, src=0)
            dist.broadcast(logits, src=0)
        self.board.insert(score, flops, self.cost.params(path), path, inputs, logits, iteration)

    def _board_log(self) -> dict:
        """Size, best and worst score of the board, for the logs."""
        log = dict(board_size=torch.tensor(float(len(self.board))))
        if len(self.board):
            log.update(board_best=self.board.score[0].clone(),
                       board_worst=self.board.score[len(self.board) - 1].clone())
        return log
