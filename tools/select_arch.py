"""Choose the arch again from any search checkpoint: the top of its board
(the official rule) or the board path with the best held-out accuracy,
BatchNorm recalibrated, as CreamArchHook does when a search ends.

    python tools/select_arch.py SEARCH_CONFIG work_dirs/RUN/iter_1000.pth --out-dir DIR
    python tools/select_arch.py SEARCH_CONFIG CHECKPOINT --rule held_out --out-dir DIR

DIR gets arch.json and board.json. The rule, the held-out loader and the
number of calibration batches come from the config's CreamArchHook unless
given here.
"""
import cream_det  # noqa: F401  (registers the search model and datasets)
from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.search.selection import RULES, select_from_checkpoint

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', help='the search config')
    parser.add_argument('checkpoint', help='a checkpoint of that search')
    parser.add_argument('--out-dir', required=True, help='where arch.json and board.json go')
    parser.add_argument('--rule', choices=RULES, help="default: the config's")
    parser.add_argument('--calib-batches', type=int, help="default: the config's")
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        arch = select_from_checkpoint(load_config(args.config, args.cfg_options),
                                      args.checkpoint, args.out_dir, args.rule,
                                      args.calib_batches)
    print(f'chosen arch ({arch.meta["rule"]} rule): {arch}, {arch.meta["flops"] / 1e6:.2f} '
          f'MFLOPs -> {args.out_dir}/arch.json')
