"""Does the supernet learn? One fixed path, an SPOS supernet and the Cream
search, trained for the same iterations on the same data from a search
config, with the held-out top-1 of fixed probe paths (BatchNorm
recalibrated) every INTERVAL iterations, plotted as a PNG.

    python tools/analysis_tools/learning_curves.py configs/cream/cream-search_fashion-mnist.py \\
        --work-dir work_dirs/curves --iters 1000 --interval 100 --out work_dirs/curves/learning_curves.png

WORK_DIR gets one run per mode and curves.json with every figure.
"""
import cream_det  # noqa: F401  (registers the search model, hooks and datasets)
from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.experiments.learning_curves import LEARNING_MODES, plot_learning_curves, run_learning_curves

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', help='a search config with a held_out_dataloader')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--iters', type=int, default=1000)
    parser.add_argument('--interval', type=int, default=100)
    parser.add_argument('--modes', nargs='+', choices=LEARNING_MODES, default=list(LEARNING_MODES))
    parser.add_argument('--fixed-arch', help="the arch trained alone ('fixed') and probed "
                        'first: a name or an arch file (default: every layer --fixed-op)')
    parser.add_argument('--fixed-op', default='k5e6', help='the op of the default fixed path')
    parser.add_argument('--out', required=True, help='the PNG to write')
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        cfg = load_config(args.config, args.cfg_options)
        curves = run_learning_curves(cfg, args.work_dir, args.iters, args.interval, args.modes,
                                     args.fixed_arch, args.fixed_op)
    plot_learning_curves(curves, args.out, title=args.config.split('/')[-1])
    for mode, probes in curves.items():
        last = probes['curve'][-1]
        print(f'{mode:>6} at {last["iter"]}: ' + ', '.join(
            f'{path} {score:.4g}' for path, score in zip(probes['paths'], last['scores'])))
