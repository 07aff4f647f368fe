"""Latency of RetinaNet with a Cream backbone against mmdet's RetinaNet with
ResNet-50 and with MobileNetV2, at the same input size, in one run.

    python tools/analysis_tools/benchmark_detectors.py [--size 640 640] [--rounds 5] [--cream cream-287 ...]

Each detector runs one image through backbone, neck and head (no
post-processing) without gradient, in turns, so that a slow spell of a shared
machine falls on all of them alike; the medians and their ratios to
RetinaNet-Cream are printed, with FLOPs and parameters.
"""
import argparse
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import cream_det  # noqa: F401
from cream_det.cost import detector_cost

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
    args = parser.parse_args()
    init_default_scope('mmdet')
    detectors = {f'RetinaNet-{n}': build(Config.fromfile(CREAM.format(size=n.split('-')[1])))
                 for n in args.cream}
    detectors['RetinaNet-R50'] = build(get_config(R50))
    detectors['RetinaNet-MobileNetV2'] = build(mobilenet_v2_retinanet())
    image = torch.randn(1, 3, *args.size)
    times = {name: [] for name in detectors}
    with torch.no_grad():
        for round_ in range(args.rounds + 1):  # the first round warms up
            for name, detector in detectors.items():
                start = time.perf_counter()
                detector._forward(image)
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


if __name__ == '__main__':
    main()
