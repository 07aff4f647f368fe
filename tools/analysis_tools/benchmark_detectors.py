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

In the deployment runtimes, side by side with PyTorch eager:

    python tools/analysis_tools/benchmark_detectors.py --backends torch onnxruntime openvino \
        [--cream cream-287 cream-481] [--arch work_dirs/main/search/arch.json ...] \
        [--threads 1 2] [--size 640 640] [--rounds 5] [--work-dir DIR]

Each detector (the --cream models, RetinaNet-Cream with each searched --arch,
MobileNetV2, R-50) is exported once, end to end with box decoding and NMS
(cream_det.deployment.export), to DIR, and timed, batch 1, at each thread
count, in turns with every other detector and runtime: PyTorch eager is
mmdet's predict (the same work). Printed: the median [min-max] of the rounds
per runtime, and each runtime's ratio to PyTorch eager.
"""
from cream_det.cli import parser_for, user_errors
from cream_det.detection.benchmark import benchmark_detectors

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640), metavar=('H', 'W'))
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--cream', nargs='+',
                        help='published Cream models to time (default: cream-287; with '
                        '--backends, cream-287 cream-481)')
    parser.add_argument('--table', help='latency table of this machine at --size, batch 1')
    parser.add_argument('--backends', nargs='+', metavar='BACKEND',
                        help='torch and deployment runtimes (onnxruntime, openvino)')
    parser.add_argument('--arch', nargs='+', default=[],
                        help='with --backends: searched arch files, in RetinaNet-Cream')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2],
                        help='with --backends: thread counts')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_detectors',
                        help='with --backends: where the ONNX files go')
    args = parser.parse_args()
    with user_errors():
        if args.backends:
            if args.table:
                parser.error('--table compares torch backbones with a torch table: not with '
                             '--backends')
            from cream_det.deployment.benchmark import benchmark_detectors_in_runtimes
            benchmark_detectors_in_runtimes(args.backends, args.size, args.rounds,
                                            args.threads, args.cream or ('cream-287', 'cream-481'),
                                            args.arch, args.work_dir)
        else:
            benchmark_detectors(args.size, args.rounds, args.cream or ['cream-287'], args.table)
