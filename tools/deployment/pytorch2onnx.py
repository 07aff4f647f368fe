"""Export a classifier, a backbone or a whole detector (RetinaNet, FCOS) to
ONNX, then check the file in onnxruntime against PyTorch on real images.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --out FILE.onnx \\
        [--shape H W] [--opset N] [--dynamic-batch] [--backbone]
    python tools/deployment/pytorch2onnx.py \\
        configs/retinanet/retinanet_cream-searched_fpn_fashion-det.py \\
        work_dirs/main/detect/epoch_24.pth --out work_dirs/deploy/retinanet.onnx
    python tools/deployment/pytorch2onnx.py cream-287 checkpoints/287.pth.tar --out cream-287.onnx

CONFIG is a config file, or an arch (a published name or an arch file) for
the ImageNet classifier of that arch. Without CHECKPOINT the weights are the
config's initial ones. A detector's graph ends in ``dets`` (B, N, 5) and
``labels`` (B, N), NMS inside; ``--backbone`` exports a detector config's
backbone (its feature maps). The shape defaults to the config's test size.
"""
import cream_det  # noqa: F401  (registers the models)
from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.deployment.equality import EQUALITY_PREFIX, describe
from cream_det.deployment.export import DEFAULT_OPSET
from cream_det.deployment.pytorch2onnx import arch_config, pytorch2onnx

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', help='config file, or an arch (name or arch file)')
    parser.add_argument('checkpoint', nargs='?', help='its weights (default: initial ones)')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input height and width (default: the config's test size)")
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset')
    parser.add_argument('--dynamic-batch', action='store_true', help='a free batch dimension')
    parser.add_argument('--backbone', action='store_true',
                        help="a detector config: export its backbone's feature maps")
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        if args.config.endswith('.py'):
            cfg, config_file = load_config(args.config, args.cfg_options), args.config
        else:
            cfg, config_file = arch_config(args.config, args.cfg_options), None
        result = pytorch2onnx(cfg, args.checkpoint, args.out, args.shape, args.opset,
                              args.dynamic_batch, args.backbone, config_file)
    meta = result['meta']
    print(f'{args.out}: {meta["kind"]}, input {"x".join(map(str, meta["input_shape"]))}'
          f'{" (free batch)" if meta["dynamic_batch"] else ""}, outputs '
          f'{", ".join(meta["output_names"])}, opset {meta["opset"]}, commit {meta["commit"]}')
    print(f'{EQUALITY_PREFIX} {describe(result["check"])}')
