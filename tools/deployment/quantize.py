"""Quantise an exported network to int8 (onnxruntime's static quantiser,
QDQ, 7-bit weights per channel), calibrated on real training images of its
config, and report it against the float32 file in one table: size, the
config's test metric (top-1 or bbox mAP, in onnxruntime) and latency in
onnxruntime and OpenVINO.

    python tools/deployment/quantize.py FILE.onnx --calib CONFIG [--images 100] \\
        [--out FILE_int8.onnx] [--threads 1] [--rounds 20] [--no-eval]

CONFIG is the config the file was exported from: its train pipeline and
data preprocessor give the calibration images (spread evenly over its train
set), its test set the accuracy. --rounds 0 skips the latency, --no-eval the
accuracy; the file is written either way.
"""
import os.path as osp

from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.deployment.quantize import compare_int8, quantize_onnx

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('onnx', help='the float32 file (tools/deployment/pytorch2onnx.py)')
    parser.add_argument('--calib', required=True, metavar='CONFIG',
                        help='the config it was exported from')
    parser.add_argument('--images', type=int, default=100, help='calibration images')
    parser.add_argument('--seed', type=int, default=0, help='of the calibration augmentation')
    parser.add_argument('--out', help='the int8 file (default: FILE_int8.onnx beside it)')
    parser.add_argument('--threads', type=int, default=1, help='runtime threads')
    parser.add_argument('--rounds', type=int, default=20,
                        help='latency rounds in turns (0: no latency)')
    parser.add_argument('--no-eval', action='store_true', help='no accuracy')
    add_cfg_options(parser)
    args = parser.parse_args()
    out = args.out or osp.splitext(args.onnx)[0] + '_int8.onnx'
    with user_errors():
        cfg = load_config(args.calib, args.cfg_options)
        quantize_onnx(args.onnx, cfg, out, args.images, args.seed)
        print(f'wrote {out}')
        compare_int8(cfg, args.onnx, out, args.threads, args.rounds,
                     accuracy=not args.no_eval)
