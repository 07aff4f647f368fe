"""Latency of RetinaNet with a Cream backbone against mmdet's RetinaNet with
ResNet-50 and with MobileNetV2, at the same input size, in one run.

    python tools/analysis_tools/benchmark_detectors.py [--size 640 640] [--rounds 5] \
        [--cream cream-287 ...] [--table table_640.json]

Each detector runs one image through backbone, neck and head (no
post-processing) without gradient, in turns, so that a slow spell of a shared
machine falls on all of them alike; the medians and their ratios to
RetinaNet-Cream are printed, with FLOPs and parameters.

With --table (a latency table of this machine at the detectors' input size,
e.g. latency_table.py configs/cream/cream-search_0-600_8xb128_in1k.py
--shape 640 640 --threads N), each Cream backbone is also timed alone, in
the same turns, and printed next to the table's prediction for it
(LatencyTable.backbone_ms: the blocks up to its deepest output); the whole
run then uses the table's thread count.
"""
from cream_det.cli import parser_for, user_errors
from cream_det.detection.benchmark import benchmark_detectors

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640), metavar=('H', 'W'))
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--cream', nargs='+', default=['cream-287'],
                        help='published Cream models to time')
    parser.add_argument('--table', help='latency table of this machine at --size, batch 1')
    args = parser.parse_args()
    with user_errors():
        benchmark_detectors(args.size, args.rounds, args.cream, args.table)
