"""Images per second of one search step, side by side in one run:

1. SPOS: a uniformly sampled path, CE only;
2. Cream: ``CreamSearch.train_step`` after the warm-up, with a full board;
3. the floor: a SPOS step, plus one forward of the batch without gradient
   (the teacher), plus one plain forward of the board's pool_size x slice
   images without gradient (the teacher selection, with the statistics of
   all the board's images shared: Cream's ghost batches normalise each
   entry's alone, and what that costs shows in Cream/floor).

    python tools/analysis_tools/benchmark_search_step.py [--batch-sizes 16 32 64] [--steps 6]

The three steps train the same sequence of student paths, and the floor's
teacher is the entry Cream picked (Cream runs first in each round), so that
the ratios compare work, not the luck of the draw: one path may cost several
times another. A Cream step
cannot cost less than the floor; the ratios are what to read.
"""
from cream_det.cli import parser_for, user_errors
from cream_det.experiments.search_step import benchmark_search_step

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[16, 32, 64])
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--budget', type=float, nargs=2, default=(0, 600))
    parser.add_argument('--sampling', default='even',
                        help="Cream's path sampling; 'even' draws paths as SPOS does, "
                        "'pre_prob' favours the dearer e6 ops")
    args = parser.parse_args()
    with user_errors():
        benchmark_search_step(args.batch_sizes, args.steps, args.budget, args.sampling)
