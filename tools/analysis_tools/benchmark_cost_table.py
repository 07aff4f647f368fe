"""How long costing one sampled path takes with the lookup table, and how
far the table's sum is from a whole-network count of the same child.

    python tools/analysis_tools/benchmark_cost_table.py [--budget 0 600] [--paths 5]
"""
import argparse
import time

import torch

from cream_det import CreamSuperNet
from cream_det.cost import CostTable, network_cost


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--budget', type=float, nargs=2, default=(0, 600))
    parser.add_argument('--paths', type=int, default=5, help='children to count whole')
    args = parser.parse_args()
    supernet = CreamSuperNet(budget=args.budget)
    start = time.perf_counter()
    table = CostTable(supernet)
    print(f'supernet depths {supernet.depths} @{supernet.resolution}: table built in '
          f'{time.perf_counter() - start:.1f} s')
    generator = torch.Generator().manual_seed(0)
    paths = [supernet.sample_path(generator) for _ in range(1000)]
    repeats = 20
    start = time.perf_counter()
    for _ in range(repeats):
        for path in paths:
            table.flops(path)
    per_path = (time.perf_counter() - start) / (repeats * len(paths))
    print(f'lookup: {per_path * 1e6:.1f} us per path (FLOPs), mean of {repeats * len(paths)}')
    worst = 0.
    for path in paths[:args.paths]:
        whole = network_cost(supernet.export_child(path))['flops']
        error = abs(table.flops(path) - whole) / whole
        worst = max(worst, error)
        print(f'  table {table.flops(path) / 1e6:8.2f} M vs whole network {whole / 1e6:8.2f} M '
              f'({error:.3%})')
    print(f'largest relative difference: {worst:.3%}')


if __name__ == '__main__':
    main()
