"""The search-step benchmark (cream_det.experiments.search_step) on the
tiny space."""
import os.path as osp

import pytest

from cream_det.experiments.search_step import benchmark_search_step
from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 1]


def test_the_benchmark_times_cream_spos_and_the_floor():
    lines = []
    result = benchmark_search_step([4], steps=1, budget=None, log=lines.append,
                                   space=TINY_SPACE, depths=DEPTHS, resolution=32)
    assert list(result) == [4]
    assert all(list(times) == ['Cream', 'SPOS', 'floor'] and min(times.values()) > 0
               for times in result.values())
    assert lines[0].startswith(f'Cream sampling even; supernet depths {DEPTHS} @32, '
                               'board 10 x 4 images, ')
    for batch, line in zip([4], lines[1:], strict=True):
        times = result[batch]
        assert line == (f'batch {batch}: Cream {batch / times["Cream"]:.1f} img/s, '
                        f'SPOS {batch / times["SPOS"]:.1f} img/s, '
                        f'floor {batch / times["floor"]:.1f} img/s; '
                        f'Cream/SPOS {times["Cream"] / times["SPOS"]:.2f}x, '
                        f'Cream/floor {times["Cream"] / times["floor"]:.2f}x')


@pytest.mark.slow
def test_the_tool_prints_a_line_a_batch_size(run_tool):
    run = run_tool(osp.join('tools', 'analysis_tools', 'benchmark_search_step.py'),
                   '--batch-sizes', '8', '--steps', '1', '--budget', '0', '10')
    lines = run.stdout.splitlines()
    assert lines[0].startswith('Cream sampling even; supernet depths [1, 1, 1, 1, 1] @96, ')
    assert lines[1].startswith('batch 8: Cream ') and 'Cream/floor' in lines[1]
    assert len(lines) == 2
