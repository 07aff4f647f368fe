"""Choose archs from any search checkpoint, without training again.

The search's own choice, again: the top of its board (the official rule) or
the board path with the best held-out score (the search's metric: top-1,
or bbox mAP for a detection-aware search), BatchNorm recalibrated, as
CreamArchHook does when a search ends:

    python tools/select_arch.py SEARCH_CONFIG work_dirs/RUN/iter_1000.pth --out-dir DIR
    python tools/select_arch.py SEARCH_CONFIG CHECKPOINT --rule held_out --out-dir DIR

DIR gets arch.json and board.json. The rule, the held-out loader and the
number of calibration batches come from the config's CreamArchHook unless
given here.

One arch per budget (one supernet, many budgets, as once-for-all does):

    python tools/select_arch.py SEARCH_CONFIG CHECKPOINT --out-dir DIR --flops 2.4 2.6 2.8
    python tools/select_arch.py SEARCH_CONFIG CHECKPOINT --out-dir DIR \\
        --latency-ms 1.8 1.9 2.0 --table table.json [--paths 20] [--seed 0]

For each budget (MFLOPs or ms, an upper bound), the board entries within it
and --paths paths drawn within it (seeded) are scored by the held-out score with
inherited weights, BatchNorm recalibrated; the best is written to
DIR/arch_<budget>.json. DIR also gets budgets.json (every candidate scored)
and pareto.png (the estimate against latency, or FLOPs without a table,
the chosen points marked). With --table (from
tools/analysis_tools/latency_table.py) arch and board files carry the
predicted latency on its device, and, when this machine is that device, the
chosen children are also timed whole.

A second stage, priced (docs/en/benchmarks.md says what it buys here):

    python tools/select_arch.py SEARCH_CONFIG CHECKPOINT --out-dir DIR \
        --rerank K --rerank-iters N [--paths 20] [--from-scratch]

The K candidates with the best held-out score with inherited weights (the
board's entries and --paths paths drawn within the constraint) are each
trained N more iterations on their own path, from their inherited weights
(or from initialisation, --from-scratch), and scored again; the best goes
to DIR/arch.json, which records the stage and its cost (K x N iterations),
and DIR/rerank.json lists every candidate.
"""
import inspect

import cream_det  # noqa: F401  (registers the search model and datasets)
from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.errors import ConfigError
from cream_det.latency import LatencyTable
from cream_det.selection.budgets import budget_table_text, select_budgets_from_checkpoint
from cream_det.selection.choice import RULES, select_from_checkpoint
from cream_det.selection.rerank import rerank
from cream_det.visualization.search_plots import plot_budgets

DEFAULT_PATHS = inspect.signature(select_budgets_from_checkpoint).parameters['num_paths'].default

def main():
    parser = parser_for(__doc__)
    parser.add_argument('config', help='the search config')
    parser.add_argument('checkpoint', help='a checkpoint of that search')
    parser.add_argument('--out-dir', required=True, help='where the arch files go')
    parser.add_argument('--rule', choices=RULES, help="default: the config's")
    parser.add_argument('--calib-batches', type=int, help="default: the config's")
    budgets = parser.add_mutually_exclusive_group()
    budgets.add_argument('--flops', type=float, nargs='+', metavar='MFLOPS',
                         help='FLOPs budgets: one arch for each')
    budgets.add_argument('--latency-ms', type=float, nargs='+', metavar='MS',
                         help='latency budgets on the --table device: one arch for each')
    parser.add_argument('--table', help='latency table (tools/analysis_tools/latency_table.py)')
    parser.add_argument('--paths', type=int, default=DEFAULT_PATHS,
                        help='paths drawn within each budget besides the board entries')
    parser.add_argument('--seed', type=int, default=0, help='of the paths drawn')
    parser.add_argument('--rerank', type=int, metavar='K',
                        help='second stage: train the K best candidates further, keep the best')
    parser.add_argument('--rerank-iters', type=int, default=200, metavar='N',
                        help='iterations of each candidate in the second stage')
    parser.add_argument('--from-scratch', action='store_true',
                        help='second stage from initialisation, not the inherited weights')
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        cfg = load_config(args.config, args.cfg_options)
        table = LatencyTable.load(args.table) if args.table else None
        if args.latency_ms and table is None:
            raise ConfigError('--latency-ms needs --table, the latency table of the device')
        if args.rerank:
            if args.flops or args.latency_ms or args.rule:
                raise ConfigError('--rerank chooses within the search\'s constraint, by its '
                                  'own rule: no --flops, --latency-ms or --rule with it')
            arch = rerank(cfg, args.checkpoint, args.out_dir, args.rerank, args.rerank_iters,
                          args.paths, args.seed, args.from_scratch, args.calib_batches)
            stage = arch.meta['rerank']
            print(f'chosen arch (second stage, {stage["k"]} x {stage["iters"]} = '
                  f'{stage["cost_iters"]} iterations): {arch}, {arch.meta["flops"] / 1e6:.2f} '
                  f'MFLOPs, held-out {arch.meta["score_key"]} {arch.meta["held_out"]:.3f} '
                  f'(estimate {arch.meta["estimate"]:.3f}) -> {args.out_dir}/arch.json')
            return
        if args.flops or args.latency_ms:
            if args.rule:
                raise ConfigError('--rule applies to the search\'s own choice; with budgets '
                                  'the best held-out score within each is chosen')
            measure = 'flops' if args.flops else 'latency_ms'
            result, files = select_budgets_from_checkpoint(
                cfg, args.checkpoint, args.out_dir, measure, args.flops or args.latency_ms,
                table, args.calib_batches, args.paths, args.seed)
            picture = plot_budgets(result, f'{args.out_dir}/pareto.png')
            print(budget_table_text(result, table.device if table is not None else None))
            if table is not None and not table.runs_here():
                print(f'(not measured: this machine is not {table.device})')
            print(f'-> {", ".join(files)}, {picture}')
            return
        arch = select_from_checkpoint(cfg, args.checkpoint, args.out_dir, args.rule,
                                      args.calib_batches, table)
    latency = (f', {arch.meta["latency_ms"]:.2f} ms on {arch.meta["latency_device"]}'
               if 'latency_ms' in arch.meta else '')
    print(f'chosen arch ({arch.meta["rule"]} rule): {arch}, {arch.meta["flops"] / 1e6:.2f} '
          f'MFLOPs{latency} -> {args.out_dir}/arch.json')


if __name__ == '__main__':
    main()
