"""How well a latency table predicts whole networks: seeded random children
of the supernet, exported as they deploy, each run whole on the table's
device (its batch, input size, dtype and thread count) against the table's
prediction for it.

    python tools/analysis_tools/benchmark_latency_table.py [CONFIG] --table T \\
        [--children 30] [--seed 0] [--rounds 3] [--repeats 10] [--warmup 10] \\
        [--fit scale|affine] [--backend torch|onnxruntime|openvino]

CONFIG (default: the paper's (0, 600) search at 224) is the search config
the table was measured for. The children are timed as LatencyTable.time_networks
times whole networks: in turns, --rounds times the median of --repeats calls
each, each after --warmup calls (a child's first calls after another's run
slow: its weights are out of the caches). Printed:
the mean absolute percentage error (MAPE) and the share of children within
+-10 %, of the plain sum of the table's blocks and of its prediction (the
sum with the table's correction, if it holds one), and Kendall's tau between
predicted and measured (whether the table orders the children as the clock
does, which is what a latency budget needs).

--fit stores a correction in the table: 'scale' fits measured = a * sum
(a, the median ratio: a block timed alone, again and again, keeps its
weights in the caches, so a sum of blocks is short of the whole network by
a near-constant share), 'affine' fits measured = a * sum + b by least
squares (for a space where a fixed per-network overhead dominates; over a
narrow spread of latencies the slope is at the mercy of the noise). The
correction is stored with how it was fitted and its MAPE in-sample and
leave-one-out (each child predicted by a fit to the others); from then on
the table predicts a * sum + b. Check it on other children (another
--seed) before trusting it.

A table built in a deployment runtime (latency_table.py --backend) times the
children there too: each is exported to ONNX and run in that runtime, at the
table's thread count. --backend, if given, must be the table's runtime.
"""
import os.path as osp

from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.deployment.latency import ALL_BACKENDS, table_runner
from cream_det.latency import FITS, LatencyTable, benchmark_latency_table

DEFAULT_CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'cream',
                          'cream-search_0-600_8xb128_in1k.py')

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG, help='search config')
    parser.add_argument('--table', required=True, help='from tools/analysis_tools/latency_table.py')
    parser.add_argument('--children', type=int, default=30)
    parser.add_argument('--seed', type=int, default=0, help='of the children drawn')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10, help='timed calls per child a round')
    parser.add_argument('--warmup', type=int, default=10, help='untimed calls before each round')
    parser.add_argument('--fit', choices=FITS,
                        help='fit and store a correction: measured = a * sum (scale) or '
                        'a * sum + b (affine)')
    parser.add_argument('--backend', choices=ALL_BACKENDS,
                        help="the table's runtime (default: as the table records)")
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        runner = table_runner(LatencyTable.load(args.table), args.backend)
        benchmark_latency_table(load_config(args.config, args.cfg_options), args.table,
                                args.children, args.seed, args.rounds, args.repeats,
                                args.warmup, args.fit, runner=runner)
