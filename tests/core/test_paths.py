"""One owner for the forms of a path: Arch, nested op indices, board rows."""
import pytest
import torch

from cream_det import Arch, ArchError, CreamSuperNet, build_space
from cream_det.arch import flatten_path, sample_path, split_path
from cream_det.search import PrioritizedBoard
from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 2]


@pytest.fixture(scope='module')
def supernet():
    return CreamSuperNet(TINY_SPACE, depths=DEPTHS, num_classes=10)


def test_split_and_flatten_are_inverse():
    path = [[0], [1, 2], [0], [2], [1, 0]]
    assert flatten_path(path) == [0, 1, 2, 0, 2, 1, 0]
    assert split_path(flatten_path(path), DEPTHS) == path
    with pytest.raises(ArchError, match='flat path of 6 ops does not fit depths'):
        split_path([0] * 6, DEPTHS)


def test_arch_and_path_convert_both_ways(supernet):
    path = [[0], [1, 2], [0], [2], [1, 0]]
    arch = supernet.arch_of(path)
    assert arch == Arch.from_path(supernet.space, path, 32)
    assert arch.stages[1] == ('k5e2', 'k3e3') and arch.path() == path
    assert supernet.path_of(arch) == path
    with pytest.raises(ArchError, match='stage 2, layer 1: op index 3 is not in 0..2'):
        Arch.from_path(supernet.space, [[0], [3, 0], [0], [0], [0, 0]], 32)


def test_seeded_sampling_is_reproducible_and_follows_probabilities(supernet):
    def draw(seed, probs=None):
        return supernet.sample_path(torch.Generator().manual_seed(seed), probs)
    assert draw(3) == draw(3) == sample_path(DEPTHS, 3, torch.Generator().manual_seed(3))
    assert any(draw(3) != draw(s) for s in range(4, 10))
    assert [len(ops) for ops in draw(0)] == DEPTHS
    only_last = torch.tensor([0., 0., 1.], dtype=torch.float64)
    assert flatten_path(draw(1, only_last)) == [2] * sum(DEPTHS)


def test_board_takes_and_hands_out_nested_paths_and_archs(supernet):
    board = PrioritizedBoard(3, build_space(TINY_SPACE), DEPTHS, 32, slice_size=1,
                             num_classes=10)
    paths = [[[0], [1, 2], [0], [2], [1, 0]], [[2], [2, 2], [1], [0], [0, 1]]]
    for prec1, path in zip((10., 20.), paths):
        board.insert(prec1, 1, 1, path, torch.zeros(1, 3, 32, 32), torch.zeros(1, 10), 0)
    assert board.path(0) == paths[1] and board.path(1) == paths[0]  # best first
    assert board.arch(0) == supernet.arch_of(paths[1])
    entries = board.entries()
    assert entries[1]['path'] == paths[0] and entries[1]['arch'] == str(supernet.arch_of(paths[0]))
    torch.testing.assert_close(board.op_frequencies(),
                               torch.tensor([5., 4., 5.], dtype=torch.float64) / 14)
