"""Does the detection-aware search pay, and could this benchmark tell? The
classification search's arch (A), the choices of detection-aware searches
(configs/cream_det_search/) at each of --search-seeds (B0, B1, ...), each
search's best other board entries and random archs of the same FLOPs band,
each pretrained with the same Fashion-MNIST recipe and trained in the same
embedded RetinaNet config at every training seed; bbox mAP and mAP50 on the
benchmark's own val images, each estimate's Kendall tau against it, the
truth's agreement between training seeds, B and A against the random archs
and B against A, each with its interval and the smallest difference
detectable.

    python tools/analysis_tools/benchmark_detection_search.py [--seeds 0 1 2] \\
        [--search-seeds 0 1 2] [--random 6] [--board 1] [--held-out-images 400] \\
        [--truth-images 400] [--first-seed-only] [--work-dir work_dirs/det_search_quality] \\
        [--quick]

A is the classification search of --cls-work-dir (the main job's; run if
absent). The benchmark writes its detection set to WORK_DIR/fashion-det
(the detection searches train on its first 160 training images, the
detectors on the first 200, the searches score on the next
--held-out-images, the detectors' truth is its --truth-images val images;
cream_det/experiments/detection_search_quality.py says why), runs each
detection-aware search in WORK_DIR/det_search_seed<S> from the supernet
that chose A, and every training in WORK_DIR; a finished one is read, not
run again. --quick runs a few iterations of everything, to see the
benchmark end to end (its figures mean nothing).
"""
from cream_det.cli import parser_for, user_errors
from cream_det.experiments.detection_search_quality import (benchmark_detection_search,
                                                            detection_search_table)

QUICK_IMAGES = 16  # --held-out-images and --truth-images under --quick, unless given

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--work-dir', default='work_dirs/det_search_quality')
    parser.add_argument('--cls-work-dir', default='work_dirs/main/search',
                        help='the classification search (arch A)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='training seeds of every arch (at least two)')
    parser.add_argument('--search-seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='one detection-aware search per seed, each with its choice B')
    parser.add_argument('--random', type=int, default=6,
                        help='random archs in the band (at least two)')
    parser.add_argument('--board', type=int, default=1,
                        help="each detection search's best board entries besides its B")
    parser.add_argument('--held-out-images', type=int,
                        help='the searches\' held-out images, for the board\'s mAP and the '
                             f'detection estimate (default: 400; {QUICK_IMAGES} with --quick)')
    parser.add_argument('--truth-images', type=int,
                        help='val images the trained detectors are scored on '
                             f'(default: 400; {QUICK_IMAGES} with --quick)')
    parser.add_argument('--first-seed-only', action='store_true',
                        help='train the archs other than A and the Bs at the first seed only '
                             '(fewer runs; the seeds\' agreement is then over A and the Bs)')
    parser.add_argument('--quick', action='store_true', help='a smoke run of a few iterations')
    args = parser.parse_args()
    default_images = QUICK_IMAGES if args.quick else 400
    for name in ('held_out_images', 'truth_images'):
        if getattr(args, name) is None:
            setattr(args, name, default_images)
    with user_errors():
        result = benchmark_detection_search(
            args.work_dir, args.cls_work_dir, seeds=tuple(args.seeds),
            search_seeds=tuple(args.search_seeds), num_random=args.random,
            num_board=args.board, held_out_images=args.held_out_images,
            truth_images=args.truth_images, quick=args.quick,
            first_seed_only=args.first_seed_only)
    print(detection_search_table(result))
