"""Does the search find better networks? Cream against SPOS on the embedded
search (the same supernet, data, schedule, constraint and seeds), each
supernet's ranking audited against archs trained alone, the choice of each
against random archs of its cost, and the meta-matching teacher against the
board's best (seed 0). About an hour on 2 CPU cores in the background;
--quick is a smoke test of minutes. Runs found in the work dir are reused.

    python tools/analysis_tools/benchmark_search_quality.py [--quick] \\
        [--work-dir work_dirs/search_quality] [--seeds 0 1] [--iters 1000] \\
        [--num-archs 24] [--truth-iters 500] [--random-archs 5]
"""
import json

import cream_det  # noqa: F401
from cream_det.cli import load_config, parser_for, user_errors
from cream_det.experiments.search_quality import benchmark_search_quality, search_quality_table

CONFIG = 'configs/cream/cream-search_fashion-mnist.py'

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/search_quality')
    parser.add_argument('--quick', action='store_true',
                        help='60 search iterations, 4 audited archs, 20-iteration ground truth')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--iters', type=int, default=1000)
    parser.add_argument('--num-archs', type=int, default=24)
    parser.add_argument('--truth-iters', type=int, default=500)
    parser.add_argument('--random-archs', type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.iters, args.num_archs, args.truth_iters, args.random_archs = 60, 4, 20, 2
        args.work_dir += '_quick'
    with user_errors():
        result = benchmark_search_quality(load_config(args.config), args.work_dir, args.seeds, args.iters,
                           args.num_archs, args.truth_iters, args.random_archs)
    print(json.dumps({k: v for k, v in result.items() if k not in ('supernets', 'truth')}))
    print(search_quality_table(result))
    print(f'-> {args.work_dir}/search_quality.json')
