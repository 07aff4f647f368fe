"""Parameters and FLOPs (multiply-accumulates) of Cream networks.

    python tools/get_flops.py cream-287                 # a published name
    python tools/get_flops.py work_dirs/x/arch.json     # an arch file
    python tools/get_flops.py configs/cream/...py       # a classification config's CreamNet
    python tools/get_flops.py configs/retinanet/...py [--shape 800 1333]  # a whole detector
    python tools/get_flops.py --all                     # every published model

A detector is counted as mmdet's tools/analysis_tools/get_flops.py counts
it: backbone, neck and head on one image (default 800x1333), without the
post-processing.
"""
import argparse
import os
import sys

from mmengine.config import Config

from cream_det.cost import arch_cost, cost_table_text
from cream_det.registry import published_archs


def arch_from_config(path):
    model = Config.fromfile(path).model
    if model.get('type') in ('CreamNet', 'mmdet.CreamNet') and 'arch' in model:
        return model['arch']
    if 'arch' in model.get('backbone', {}):  # a CreamClassifier
        return model.backbone['arch']
    sys.exit(f'{path}: found no CreamNet with an arch in model or model.backbone')


def detector_summary(config, shape):
    from mmengine.registry import init_default_scope

    import cream_det  # noqa: F401
    from cream_det.cost import detector_cost
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model_cfg = Config.fromfile(config).model
    model_cfg.backbone.pop('init_cfg', None)  # counting needs no weights
    cost = detector_cost(MODELS.build(model_cfg), *shape)
    return (f'{os.path.basename(config)}: {model_cfg.type} on {shape[0]}x{shape[1]}: '
            f'{cost["flops"] / 1e9:.2f} GFLOPs, {cost["params"] / 1e6:.2f} M parameters')


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('target', nargs='?', help='published name, arch file or config')
    parser.add_argument('--all', action='store_true', help='every published model')
    parser.add_argument('--resolution', type=int, help='input size (default: the arch\'s)')
    parser.add_argument('--shape', type=int, nargs=2, default=(800, 1333), metavar=('H', 'W'),
                        help='detectors: the input size')
    args = parser.parse_args()
    if args.all == bool(args.target):
        parser.error('give one name, arch file or config, or --all')
    if args.target and args.target.endswith('.py') and 'bbox_head' in Config.fromfile(
            args.target).model:
        try:
            print(detector_summary(args.target, args.shape))
        except (KeyError, ValueError, FileNotFoundError) as err:
            sys.exit(f'error: {err.args[0] if err.args else err}')
        return
    names = published_archs() if args.all else [args.target]
    try:
        archs = [arch_from_config(n) if n.endswith('.py') else n for n in names]
        rows = [arch_cost(a, args.resolution) for a in archs]
    except (KeyError, ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err.args[0] if err.args else err}')
    print(cost_table_text(rows, [os.path.basename(n) for n in names]))
    for name, row in zip(names, rows):
        print(f'{os.path.basename(name)}: {row["arch"]}')


if __name__ == '__main__':
    main()
