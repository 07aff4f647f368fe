"""How well a latency table predicts whole networks: seeded random children
of the supernet, exported as they deploy, each run whole on the table's
device (its batch, input size, dtype and thread count) against the table's
prediction for it.

    python tools/analysis_tools/benchmark_latency_table.py [CONFIG] --table T \\
        [--children 30] [--seed 0] [--rounds 3] [--repeats 10] [--warmup 10] \\
        [--fit scale|affine]

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
"""
import os.path as osp
import statistics

import numpy as np
import torch
from scipy.stats import kendalltau

from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.errors import ConfigError
from cream_det.latency import LatencyTable, search_supernet

DEFAULT_CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'cream',
                          'cream-search_0-600_8xb128_in1k.py')


def errors(predicted, measured) -> tuple[float, float]:
    """MAPE (%) and the share (%) within +-10 %."""
    relative = [abs(p - m) / m for p, m in zip(predicted, measured)]
    return 100 * statistics.mean(relative), 100 * statistics.mean(r <= 0.1 for r in relative)


FITS = ('scale', 'affine')


def fit(sums, measured, kind: str) -> tuple[float, float]:
    if kind == 'scale':
        return float(statistics.median(m / s for s, m in zip(sums, measured))), 0.
    a, b = np.polyfit(sums, measured, 1)
    if a <= 0:
        raise ConfigError(f'the fit measured = {a:.3f} * sum + {b:.3f} has no positive slope: '
                          "the children's latencies do not follow the table; not stored")
    return float(a), float(b)


def leave_one_out(sums, measured, kind: str) -> list[float]:
    predicted = []
    for i in range(len(sums)):
        a, b = fit(sums[:i] + sums[i + 1:], measured[:i] + measured[i + 1:], kind)
        predicted.append(float(a * sums[i] + b))
    return predicted


def main():
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
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        table = LatencyTable.load(args.table)
        supernet = search_supernet(load_config(args.config, args.cfg_options))
        table.check_matches(supernet)
        if args.children < 3:
            raise ConfigError(f'--children {args.children}: expected at least 3')
        generator = torch.Generator().manual_seed(args.seed)
        paths = [supernet.sample_path(generator) for _ in range(args.children)]
        measured = table.time_networks([supernet.export_child(p) for p in paths], args.rounds,
                                       args.repeats, args.warmup)
    data = table.data
    sums = [table.parts_ms(p) for p in paths]
    predicted = [table.latency_ms(p) for p in paths]
    print(f'table: {table.device}, batch {data["batch"]}, {data["shape"][0]}x{data["shape"][1]}, '
          f'{data["dtype"]}, space {data["space"]} depths {data["depths"]}')
    print(f'{"child":>5} {"sum (ms)":>10} {"predicted":>10} {"measured":>10} {"error":>8}')
    for i, (s, p, m) in enumerate(zip(sums, predicted, measured)):
        print(f'{i:>5} {s:>10.3f} {p:>10.3f} {m:>10.3f} {100 * (p - m) / m:>+7.1f}%')
    a, b = table.correction
    plain, corrected = errors(sums, measured), errors(predicted, measured)
    print(f'{args.children} children (seed {args.seed}), median of {args.rounds} rounds of '
          f'{args.repeats} calls each:')
    print(f'  plain sum: MAPE {plain[0]:.1f} %, {plain[1]:.0f} % within +-10 %')
    print(f'  prediction (a={a:.3f}, b={b:.3f} ms): MAPE {corrected[0]:.1f} %, '
          f'{corrected[1]:.0f} % within +-10 %; Kendall tau {kendalltau(sums, measured)[0]:.2f}')
    if args.fit:
        with user_errors():
            a, b = fit(sums, measured, args.fit)
        in_sample = errors([a * s + b for s in sums], measured)
        loo = errors(leave_one_out(sums, measured, args.fit), measured)
        table.set_correction(a, b, kind=args.fit, children=args.children, seed=args.seed,
                             rounds=args.rounds, repeats=args.repeats, warmup=args.warmup,
                             mape_before=plain[0],
                             mape_in_sample=in_sample[0], mape_leave_one_out=loo[0])
        table.save(args.table)
        print(f'  fitted ({args.fit}) a={a:.3f}, b={b:.3f} ms: MAPE {in_sample[0]:.1f} % '
              f'in-sample ({in_sample[1]:.0f} % within +-10 %), {loo[0]:.1f} % leave-one-out '
              f'({loo[1]:.0f} %); stored in {args.table}')


if __name__ == '__main__':
    main()
