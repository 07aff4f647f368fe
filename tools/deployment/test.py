"""Evaluate an exported file on its config's test set in a runtime:
COCO bbox mAP for a detector (mmdet's CocoMetric, as tools/test.py
evaluates it in PyTorch), top-1 for a classifier.

    python tools/deployment/test.py CONFIG FILE.onnx [--backend onnxruntime|openvino] \\
        [--threads N]

The config must be the one the file was exported from, or one with the
same classes and input size (read from the file's metadata).
"""
import cream_det  # noqa: F401  (registers datasets and metrics)
from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.deployment.evaluation import evaluate_onnx
from cream_det.deployment.runtimes import BACKENDS, runtime_version

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', help='the config the file was exported from')
    parser.add_argument('onnx', help='the ONNX file (tools/deployment/pytorch2onnx.py)')
    parser.add_argument('--backend', choices=BACKENDS, default='onnxruntime')
    parser.add_argument('--threads', type=int, default=1, help='runtime threads')
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        metrics = evaluate_onnx(load_config(args.config, args.cfg_options), args.onnx,
                                args.backend, args.threads)
        version = runtime_version(args.backend)
    shown = ', '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}'
                      for k, v in metrics.items())
    print(f'{args.onnx} in {args.backend} {version} ({args.threads} thread'
          f'{"s" if args.threads != 1 else ""}): {shown}')
