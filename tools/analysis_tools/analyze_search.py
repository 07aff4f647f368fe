"""Does the search teach? Held-out accuracy of paths from the final board
against paths sampled uniformly, all with weights inherited from the
supernet and BatchNorm recalibrated on a few training batches.

    python tools/analysis_tools/analyze_search.py CONFIG WORK_DIR/iter_1000.pth [--paths 5]
"""
from mmengine.registry import MODELS
from mmengine.runner import Runner

import cream_det  # noqa: F401
from cream_det.checkpoint import load_weights
from cream_det.cli import load_config, parser_for, user_errors
from cream_det.experiments.learning_curves import board_versus_uniform
from cream_det.selection import calibration_loader

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--paths', type=int, default=5, help='paths of each kind')
    parser.add_argument('--calib-batches', type=int, default=10)
    args = parser.parse_args()
    with user_errors():
        cfg = load_config(args.config)
        model = MODELS.build(cfg.model)
        load_weights(model, args.checkpoint, ema=False)
        result = board_versus_uniform(model, calibration_loader(cfg.train_dataloader),
                                      Runner.build_dataloader(cfg.held_out_dataloader),
                                      args.paths, args.calib_batches)
    for kind in ('board', 'uniform'):
        r = result[kind]
        print(f'{kind:>8} paths: held-out top-1 {r["mean"]:.2f} % (min {r["min"]:.2f}, '
              f'max {r["max"]:.2f}, n={len(r["top1"])})')
    print(f'board - uniform: {result["gap"]:+.2f} points')
