"""Parameters and FLOPs (multiply-accumulates) of Cream networks.

    python tools/get_flops.py cream-287                 # a published name
    python tools/get_flops.py work_dirs/x/arch.json     # an arch file
    python tools/get_flops.py configs/...py             # a config's CreamNet
    python tools/get_flops.py --all                     # every published model
"""
import argparse
import os
import sys

from cream_det.cost import arch_cost, cost_table_text
from cream_det.registry import published_archs


def arch_from_config(path):
    from mmengine.config import Config
    model = Config.fromfile(path).model
    for candidate in (model, model.get('backbone', {})):
        if candidate.get('type') in ('CreamNet', 'mmdet.CreamNet') and 'arch' in candidate:
            return candidate['arch']
    sys.exit(f'{path}: found no CreamNet with an arch in model or model.backbone')


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('target', nargs='?', help='published name, arch file or config')
    parser.add_argument('--all', action='store_true', help='every published model')
    parser.add_argument('--resolution', type=int, help='input size (default: the arch\'s)')
    args = parser.parse_args()
    if args.all == bool(args.target):
        parser.error('give one name, arch file or config, or --all')
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
