"""Measure the latency table of a search's supernet on this machine: every
candidate block, and the fixed stem, first and last blocks and head, each on
the input size it sees, as the median of --repeats calls after --warmup, the
blocks timed in turns --rounds times and each entry the median of its rounds.

    python tools/analysis_tools/latency_table.py CONFIG --out table.json \\
        [--backend torch|onnxruntime|openvino] [--device cpu|cuda] [--batch 1] \\
        [--threads N] [--shape 224 | --shape H W] [--dtype float32] [--repeats 50] \\
        [--warmup 10] [--rounds 3] [--cfg-options ...]

CONFIG is a search config: its model.supernet is measured. The table prices
one device, thread count, batch, input size and dtype, and records them. At
detection sizes (--shape 640 640) it prices the backbone as it runs inside a
detector: the head is timed apart, and LatencyTable.backbone_ms leaves it out
(tools/analysis_tools/benchmark_detectors.py --table). A search keeps
to a latency budget with constraint=dict(latency_ms=(low, high),
table='table.json'); benchmark_latency_table.py measures how well the table
predicts whole networks.

--backend onnxruntime or openvino builds the table in that runtime, on the
CPU: each block and fixed part is exported to ONNX at the input it sees and
timed in a session at --threads threads (1 if not given); the table records
the runtime, its version and its threads (cream_det.deployment.latency).
"""
import torch

from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.deployment.latency import ALL_BACKENDS, runner_for
from cream_det.latency import LatencyTable, build_latency_table, search_supernet

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', help='search config')
    parser.add_argument('--out', required=True, help='the table file to write (JSON)')
    parser.add_argument('--backend', default='torch', choices=ALL_BACKENDS,
                        help='where the parts run: torch eager, or exported to a runtime')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--threads', type=int,
                        help="threads while timing (default: torch's default; 1 in a runtime)")
    parser.add_argument('--shape', type=int, nargs='+', metavar='SIZE',
                        help="input size: S (S x S) or H W (default: the supernet's resolution)")
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--repeats', type=int, default=50, help='timed calls per block')
    parser.add_argument('--warmup', type=int, default=10, help='untimed calls first')
    parser.add_argument('--rounds', type=int, default=3,
                        help='passes over all blocks, in turns; an entry is their median')
    add_cfg_options(parser)
    args = parser.parse_args()
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error('--shape: give S or H W')
    shape = None if args.shape is None else (args.shape * 2)[:2]
    with user_errors():
        runner = runner_for(args.backend, args.threads)
        table = LatencyTable.from_dict(build_latency_table(
            search_supernet(load_config(args.config, args.cfg_options)), args.device,
            args.batch, shape, None if runner else args.threads, args.repeats, args.warmup,
            getattr(torch, args.dtype), args.rounds, runner=runner))
    table.save(args.out)
    low, high = table.latency_range_ms()
    height, width = table.data['shape']
    print(f'wrote {args.out}: {table.device}, batch {args.batch}, {height}x{width}, '
          f'{args.dtype}; its paths span {low:.2f}-{high:.2f} ms')
