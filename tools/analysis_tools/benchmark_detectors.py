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
import argparse
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import cream_det  # noqa: F401
from cream_det.cli import user_errors
from cream_det.cost import detector_cost
from cream_det.errors import ConfigError
from cream_det.latency import LatencyTable, pin_allocator

R50 = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
CREAM = 'configs/retinanet/retinanet_cream-{size}_fpn_1x_coco.py'


def mobilenet_v2_retinanet() -> Config:
    """mmdet ships MobileNetV2 as a backbone but no RetinaNet config for it:
    R-50's config with mmdet's MobileNetV2, stride 8/16/32 outputs (32, 96 and
    1,280 channels), the same neck and head."""
    cfg = get_config(R50)
    cfg.model.backbone = dict(type='MobileNetV2', out_indices=(2, 4, 7))
    cfg.model.neck.update(in_channels=[32, 96, 1280], start_level=0)
    return cfg


def build(cfg: Config) -> torch.nn.Module:
    from mmdet.registry import MODELS
    cfg.model.backbone.pop('init_cfg', None)
    return MODELS.build(cfg.model).eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640), metavar=('H', 'W'))
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--cream', nargs='+', default=['cream-287'],
                        help='published Cream models to time')
    parser.add_argument('--table', help='latency table of this machine at --size, batch 1')
    args = parser.parse_args()
    table = None
    with user_errors():
        if args.table:
            table = LatencyTable.load(args.table)
            check_table(table, args.size)
    init_default_scope('mmdet')
    detectors = {f'RetinaNet-{n}': build(Config.fromfile(CREAM.format(size=n.split('-')[1])))
                 for n in args.cream}
    detectors['RetinaNet-R50'] = build(get_config(R50))
    detectors['RetinaNet-MobileNetV2'] = build(mobilenet_v2_retinanet())
    image = torch.randn(1, 3, *args.size)
    # what is timed: each detector, and with a table each Cream backbone alone
    runs = {name: detector._forward for name, detector in detectors.items()}
    if table is not None:
        pin_allocator()  # as the table was measured
        torch.set_num_threads(table.data['device']['threads'])
        runs.update({f'{name} backbone': detectors[name].backbone for name in detectors
                     if name.startswith('RetinaNet-cream')})
    times = {name: [] for name in runs}
    with torch.no_grad():
        for round_ in range(args.rounds + 1):  # the first round warms up
            for name, run in runs.items():
                start = time.perf_counter()
                run(image)
                if round_:
                    times[name].append(time.perf_counter() - start)
    reference = statistics.median(times[next(iter(detectors))])
    print(f'input {args.size[0]}x{args.size[1]}, batch 1, {torch.get_num_threads()} threads, '
          f'median of {args.rounds} rounds')
    print(f'{"detector":<24}{"latency":>12}{"vs first":>10}{"GFLOPs":>9}{"params":>10}')
    for name, detector in detectors.items():
        median = statistics.median(times[name])
        cost = detector_cost(detector, *args.size)
        print(f'{name:<24}{median * 1e3:>9.0f} ms{median / reference:>9.2f}x'
              f'{cost["flops"] / 1e9:>9.2f}{cost["params"] / 1e6:>9.2f}M')
    if table is not None:
        print(f'backbones alone, against the table ({table.device}):')
        print(f'{"backbone":<24}{"measured":>12}{"predicted":>12}{"error":>9}')
        for name, detector in detectors.items():
            if f'{name} backbone' not in times:
                continue
            measured = statistics.median(times[f'{name} backbone']) * 1e3
            backbone = detector.backbone
            if backbone.arch.space.name != table.data['space']:
                print(f'{name:<24}{measured:>9.1f} ms   not priced: the table is of space '
                      f'{table.data["space"]!r}, the backbone of {backbone.arch.space.name!r}')
                continue
            try:
                predicted = table.backbone_ms(backbone.arch.path(), backbone.out_indices)
            except ConfigError as err:  # an arch deeper than the table's supernet
                print(f'{name:<24}{measured:>9.1f} ms   not priced: {err}')
                continue
            print(f'{name:<24}{measured:>9.1f} ms{predicted:>9.1f} ms'
                  f'{100 * (predicted - measured) / measured:>+8.1f}%')


def check_table(table: LatencyTable, size) -> None:
    """A table prices one input size, batch and device: this run's."""
    data = table.data
    if list(data['shape']) != list(size) or data['batch'] != 1:
        raise ConfigError(f'{table.source} prices batch {data["batch"]} at '
                          f'{data["shape"][0]}x{data["shape"][1]}; the detectors run batch 1 at '
                          f'{size[0]}x{size[1]}: measure one with latency_table.py --shape '
                          f'{size[0]} {size[1]}')
    if data['device']['type'] != 'cpu' or not table.runs_here():
        raise ConfigError(f'{table.source} was measured on {table.device}; the detectors run '
                          'on this machine\'s CPU')


if __name__ == '__main__':
    main()
