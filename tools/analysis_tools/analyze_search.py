"""Does the search teach? The held-out score of paths from the final board
against paths sampled uniformly, all with weights inherited from the
supernet and BatchNorm recalibrated on a few training batches, scored by
the search's metric (top-1, or bbox mAP for a detection-aware search).

    python tools/analysis_tools/analyze_search.py CONFIG WORK_DIR/iter_1000.pth [--paths 5]
"""
import cream_det  # noqa: F401
from cream_det.cli import load_config, parser_for, user_errors
from cream_det.experiments.learning_curves import analyze_search

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--paths', type=int, default=5, help='paths of each kind')
    parser.add_argument('--calib-batches', type=int, default=10)
    args = parser.parse_args()
    with user_errors():
        result = analyze_search(load_config(args.config), args.checkpoint, args.paths,
                                args.calib_batches)
    for kind in ('board', 'uniform'):
        r = result[kind]
        print(f'{kind:>8} paths: held-out {result["score_key"]} {r["mean"]:.4g} (min '
              f'{r["min"]:.4g}, max {r["max"]:.4g}, n={len(r["scores"])})')
    print(f'board - uniform: {result["gap"]:+.4g}')
