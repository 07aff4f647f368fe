"""How long costing one sampled path takes with the lookup table, and how
far the table's sum is from a whole-network count of the same child.

    python tools/analysis_tools/benchmark_cost_table.py [--budget 0 600] [--paths 5]
"""
from cream_det import CreamSuperNet
from cream_det.cli import parser_for, user_errors
from cream_det.cost import benchmark_cost_table

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--budget', type=float, nargs=2, default=(0, 600))
    parser.add_argument('--paths', type=int, default=5, help='children to count whole')
    args = parser.parse_args()
    with user_errors():
        benchmark_cost_table(CreamSuperNet(budget=args.budget), args.paths)
