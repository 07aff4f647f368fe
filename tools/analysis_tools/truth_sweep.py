"""How long must an arch train alone for the search-quality benchmark's
ground truth to resolve? The same archs (stratified by FLOPs) trained alone
at each length and seed, scored on the config's truth_dataloader (the
Fashion-MNIST test split): the truth's Kendall tau between seeds (the
ceiling), its noise and the archs' spread, and the tau of the free
estimates (FLOPs, parameters, SNIP at initialisation) at each length. The
trainings are cached in WORK_DIR/ground_truth.json, which the benchmark
shares.

    python tools/analysis_tools/truth_sweep.py [--config CONFIG] \\
        [--lengths 500 2000] [--num-archs 12] [--seeds 0 1] [--whole-space] \\
        [--work-dir work_dirs/search_quality]
"""
import cream_det  # noqa: F401
from cream_det.cli import load_config, parser_for, user_errors
from cream_det.experiments.truth_sweep import truth_sweep, truth_sweep_table

CONFIG = 'configs/cream/cream-search_fashion-mnist.py'

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/search_quality')
    parser.add_argument('--lengths', type=int, nargs='+', default=[500, 2000])
    parser.add_argument('--num-archs', type=int, default=12)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--whole-space', action='store_true',
                        help="archs over the supernet's whole budget, not the constraint's band")
    args = parser.parse_args()
    with user_errors():
        result = truth_sweep(load_config(args.config), args.lengths, args.work_dir,
                             args.num_archs, args.seeds, args.whole_space)
    print(f'{len(result["archs"])} archs, {result["mflops"][0]:.2f}-{result["mflops"][1]:.2f} '
          f'MFLOPs, seeds {result["seeds"]}')
    print(truth_sweep_table(result))
    print(f'-> {args.work_dir}/truth_sweep.json')
