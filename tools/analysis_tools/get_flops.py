"""Parameters and FLOPs (multiply-accumulates) of Cream networks.

    python tools/analysis_tools/get_flops.py cream-287              # a published name
    python tools/analysis_tools/get_flops.py work_dirs/x/arch.json  # an arch file
    python tools/analysis_tools/get_flops.py configs/cream/...py    # a classification config's CreamNet
    python tools/analysis_tools/get_flops.py configs/retinanet/...py [--shape 800 1333]  # a detector
    python tools/analysis_tools/get_flops.py --all                  # every published model

A detector is counted as mmdet's tools/analysis_tools/get_flops.py counts
it: backbone, neck and head on one image (default 800x1333), without the
post-processing.
"""
import os

from cream_det.archs import published_archs
from cream_det.cli import parser_for, user_errors
from cream_det.cost import archs_cost_text
from cream_det.detection.cost import config_cost_text

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('target', nargs='?', help='published name, arch file or config')
    parser.add_argument('--all', action='store_true', help='every published model')
    parser.add_argument('--resolution', type=int, help='input size (default: the arch\'s)')
    parser.add_argument('--shape', type=int, nargs=2, default=(800, 1333), metavar=('H', 'W'),
                        help='detectors: the input size')
    args = parser.parse_args()
    if args.all == bool(args.target):
        parser.error('give one name, arch file or config, or --all')
    with user_errors():
        if args.all:
            print(archs_cost_text(published_archs(), published_archs(), args.resolution))
        elif args.target.endswith('.py'):
            print(config_cost_text(args.target, args.shape, args.resolution))
        else:
            print(archs_cost_text([args.target], [os.path.basename(args.target)],
                                  args.resolution))
