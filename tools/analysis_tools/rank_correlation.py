"""The ranking audit: does the supernet rank archs as training them alone
would? For N archs stratified by FLOPs (within the search's constraint), the
board's entries and the search's choice: the supernet's estimate (inherited
weights, BatchNorm recalibrated, the search's held-out score: top-1, or
bbox mAP for a detection-aware search) against the ground truth (the arch
trained alone in the search's config, its path fixed, for
--truth-iters iterations, scored the same way). Ground truth is cached per
arch and recipe, so a second supernet is audited without retraining.

    python tools/analysis_tools/rank_correlation.py CONFIG CHECKPOINT \\
        [--num-archs 24] [--truth-iters 300] [--truth-seeds 0 1] [--cache FILE] [--out-dir DIR]

With two truth seeds or more it also prints the truth's own agreement
between seeds (the ceiling of any rank correlation against it). The free
estimates (FLOPs, parameters, SNIP at initialisation) are audited beside
the supernet against the same truth.

Writes DIR/rank_correlation.json (Kendall tau-b, Spearman rho, top-k
overlap, the chosen arch's true rank, each with a bootstrap 95 % interval)
and DIR/rank_correlation.png (estimate against truth, the choice marked).
"""
import os.path as osp

import cream_det  # noqa: F401
from cream_det.cli import load_config, parser_for, user_errors
from cream_det.experiments.ranking import audit

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--num-archs', type=int, default=24, help='archs stratified by FLOPs')
    parser.add_argument('--truth-iters', type=int, default=300,
                        help='iterations of each stand-alone training')
    parser.add_argument('--cache', help='ground-truth cache (default OUT_DIR/ground_truth.json)')
    parser.add_argument('--out-dir', help='default: the checkpoint\'s folder/rank_correlation')
    parser.add_argument('--no-board', action='store_true', help="leave the board's entries out")
    parser.add_argument('--calib-batches', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0, help='of the stratified draw')
    parser.add_argument('--truth-seeds', type=int, nargs='+', default=[0],
                        help='seeds of each stand-alone training; the truth is their mean')
    args = parser.parse_args()
    out_dir = args.out_dir or osp.join(osp.dirname(args.checkpoint), 'rank_correlation')
    with user_errors():
        result = audit(load_config(args.config), args.checkpoint, out_dir, args.num_archs,
                       args.truth_iters, args.cache, args.calib_batches, args.seed,
                       not args.no_board, truth_seeds=args.truth_seeds)
    for name in ('kendall_tau', 'spearman_rho', 'top_k_overlap', 'chosen_true_rank'):
        r = result[name]
        extra = f' (k={r["k"]})' if 'k' in r else f' of {r["of"]}' if 'of' in r else ''
        print(f'{name:>17} {r["value"]:.3f}{extra}  95 % CI [{r["ci95"][0]:.3f}, '
              f'{r["ci95"][1]:.3f}]')
    for name, tau in result['free_estimates'].items():
        print(f'{"tau of " + name:>17} {tau["value"]:.3f}  95 % CI [{tau["ci95"][0]:.3f}, '
              f'{tau["ci95"][1]:.3f}]')
    if 'ceiling' in result:
        tau = result['ceiling']['kendall_tau']
        print(f'{"truth vs itself":>17} {tau["value"]:.3f}  95 % CI [{tau["ci95"][0]:.3f}, '
              f'{tau["ci95"][1]:.3f}] (tau between its seeds: the ceiling)')
    print(f'archs audited: {len(result["archs"])}; chosen {result["chosen"]}')
    print(f'-> {osp.join(out_dir, "rank_correlation.json")}, '
          f'{osp.join(out_dir, "rank_correlation.png")}')
