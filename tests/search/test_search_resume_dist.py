"""The search resumes with its board intact, and ranks stay identical."""
import pytest

from search_utils import (assert_resume_gives_the_straight_run,
                          assert_two_ranks_stay_identical, tiny_search_cfg)

pytestmark = pytest.mark.slow  # a search run each, and a two-rank torchrun


def tiny_search_without_hooks(work_dir, max_iters=12):
    cfg = tiny_search_cfg(work_dir, max_iters=max_iters)
    cfg.custom_hooks = []
    return cfg


def test_resume_gives_the_straight_run(tmp_path):
    assert_resume_gives_the_straight_run(tiny_search_without_hooks, tmp_path, interrupt_at=6)


def test_two_ranks_stay_identical(tmp_path):
    assert_two_ranks_stay_identical(tmp_path, 'test_search_resume_dist',
                                    'tiny_search_without_hooks', port=29731, max_iters=12)
