"""The cost-table benchmark (cream_det.cost.benchmark_cost_table): the
table's sum against whole-network counts, on the tiny space."""
import os.path as osp

import pytest
import torch

from cream_det import CreamSuperNet
from cream_det.cost import CostTable, benchmark_cost_table, network_cost
from search_utils import TINY_SPACE

DEPTHS = [1, 2, 1, 1, 1]


def test_the_benchmark_counts_its_first_children_by_the_table_and_whole():
    supernet = CreamSuperNet(space=TINY_SPACE, depths=DEPTHS, resolution=32, num_classes=10)
    lines = []
    result = benchmark_cost_table(supernet, num_paths=3, log=lines.append)
    assert len(lines) == 2 + 3 + 1
    assert lines[0].startswith(f'supernet depths {DEPTHS} @32: table built in ')
    assert lines[1].startswith('lookup: ') and lines[1].endswith(' us per path (FLOPs), mean '
                                                                 'of 20000')
    assert result['build_s'] > 0 and result['lookup_s'] > 0
    generator = torch.Generator().manual_seed(0)  # the benchmark's draw
    paths = [supernet.sample_path(generator) for _ in range(3)]
    table = CostTable(supernet)
    for row, path, line in zip(result['paths'], paths, lines[2:5], strict=True):
        assert row['table'] == table.flops(path)
        assert row['whole'] == network_cost(supernet.export_child(path))['flops']
        assert row['error'] == abs(row['table'] - row['whole']) / row['whole']
        assert line == (f'  table {row["table"] / 1e6:8.2f} M vs whole network '
                        f'{row["whole"] / 1e6:8.2f} M ({row["error"]:.3%})')
    assert result['worst'] == max(row['error'] for row in result['paths'])
    assert lines[-1] == f'largest relative difference: {result["worst"]:.3%}'


@pytest.mark.slow
def test_the_tool_prints_the_report(run_tool):
    run = run_tool(osp.join('tools', 'analysis_tools', 'benchmark_cost_table.py'), '--paths', '1',
                   '--budget', '0', '10')
    lines = run.stdout.splitlines()
    assert lines[0].startswith('supernet depths [1, 1, 1, 1, 1] @96: table built in ')
    assert lines[1].startswith('lookup: ') and lines[2].startswith('  table ')
    assert lines[3].startswith('largest relative difference: ') and len(lines) == 4
