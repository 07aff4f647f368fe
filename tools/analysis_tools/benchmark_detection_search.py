"""Does the detection-aware search pay? The classification search's arch
(A), the detection-aware search's (B, configs/cream_det_search/) and random
archs of the same FLOPs band, each pretrained with the same Fashion-MNIST
recipe and trained in the same embedded RetinaNet config; bbox mAP and
mAP50 (A and B at each seed, every arch with --all-seeds), and Kendall's
tau, over the detection board's entries and the random archs, between each
search's estimate and the trained detectors' mAP.

    python tools/analysis_tools/benchmark_detection_search.py [--seeds 0 1] \\
        [--random 3] [--board 3] [--all-seeds] [--work-dir work_dirs/det_search_quality] \\
        [--quick]

A is the classification search of work_dirs/main/search (the main job's;
run if absent); B comes from the detection-aware search run in
WORK_DIR/det_search (run if absent). Every training is a tools/train.py run
in WORK_DIR; a finished one is read, not run again. --quick runs a few
iterations of everything, to see the benchmark end to end (its figures mean
nothing).
"""
from cream_det.cli import parser_for, user_errors
from cream_det.errors import ConfigError
from cream_det.experiments.detection_search_quality import (benchmark_detection_search,
                                                            detection_search_table)

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--work-dir', default='work_dirs/det_search_quality')
    parser.add_argument('--cls-work-dir', default='work_dirs/main/search',
                        help='the classification search (arch A)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                        help='training seeds of A and B; the others train at the first')
    parser.add_argument('--random', type=int, default=3, help='random archs in the band')
    parser.add_argument('--board', type=int, default=3,
                        help="the detection board's best entries besides B")
    parser.add_argument('--all-seeds', action='store_true',
                        help='train every arch at every seed, not only A and B')
    parser.add_argument('--quick', action='store_true', help='a smoke run of a few iterations')
    args = parser.parse_args()
    with user_errors():
        if args.random + args.board < 2:
            raise ConfigError('--random and --board: at least 2 archs besides B for a tau')
        result = benchmark_detection_search(
            args.work_dir, args.cls_work_dir, seeds=tuple(args.seeds), num_random=args.random,
            num_board=args.board, quick=args.quick, all_seeds=args.all_seeds)
    print(detection_search_table(result))
