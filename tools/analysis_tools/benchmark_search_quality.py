"""Does the search find better networks, and could this benchmark tell?
Cream against SPOS on the embedded search at several search seeds and
supernet lengths (the same supernet, data, schedule and constraint); each
supernet's ranking against archs trained alone at two seeds or more
(scored on the Fashion-MNIST test split, which no search sees), beside the
truth's agreement between seeds and the free estimates (FLOPs, parameters,
SNIP); Cream - SPOS with a paired bootstrap interval; each method's
choices against random archs within the constraint; with --rerank, the
second stage on each Cream supernet against the same stage on random
archs; beside each difference the smallest one detectable. Hours on 2 CPU
cores, in the background; --quick is a smoke test of minutes. Every run
found in the work dir is reused (the ground truth is shared with
tools/analysis_tools/truth_sweep.py). On several cores, run one process per
method (--methods cream, --methods spos) in one work dir, then the whole
command, which finds every run and adds Cream - SPOS.

    python tools/analysis_tools/benchmark_search_quality.py [--quick] \\
        [--work-dir work_dirs/search_quality] [--seeds 0 1 2] [--lengths 1000 4000] \\
        [--num-archs 24] [--truth-iters 500] [--truth-seeds 0 1] [--rerank K --rerank-iters N] \\
        [--methods cream spos]
"""
import json

import cream_det  # noqa: F401
from cream_det.cli import load_config, parser_for, user_errors
from cream_det.experiments.search_quality import (METHODS, benchmark_search_quality,
                                                  search_quality_table)

CONFIG = 'configs/cream/cream-search_fashion-mnist.py'

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/search_quality')
    parser.add_argument('--quick', action='store_true',
                        help='40 and 80 search iterations, 4 archs, 20-iteration ground truth')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--lengths', type=int, nargs='+', default=[1000, 4000],
                        help='supernet lengths in iterations')
    parser.add_argument('--num-archs', type=int, default=24)
    parser.add_argument('--truth-iters', type=int, default=500)
    parser.add_argument('--truth-seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--rerank', type=int, default=0, metavar='K',
                        help='the second stage with K candidates (0: none)')
    parser.add_argument('--rerank-iters', type=int, default=200, metavar='N')
    parser.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS),
                        help='run only these searches (one process per method, side by side)')
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.num_archs, args.truth_iters = [40, 80], 4, 20
        args.rerank_iters = min(args.rerank_iters, 10)
        args.work_dir += '_quick'
    with user_errors():
        result = benchmark_search_quality(
            load_config(args.config), args.work_dir, args.seeds, args.lengths, args.num_archs,
            args.truth_iters, args.truth_seeds, rerank_k=args.rerank,
            rerank_iters=args.rerank_iters, methods=args.methods)
    print(json.dumps({k: result[k] for k in ('lengths', 'seeds', 'truth_iters', 'truth_seeds')}))
    print(search_quality_table(result))
    print(f'-> {args.work_dir}/search_quality.json')
