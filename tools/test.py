"""Evaluate a Cream classifier (top-1/top-5) or an mmdet detector with a
Cream backbone (COCO bbox mAP) on the config's test set.

    python tools/test.py configs/cream/cream-287_8xb128_in1k.py 287.pth.tar
    python tools/test.py CONFIG work_dirs/RUN/epoch_1.pth --show-dir shown

CHECKPOINT may be an mmengine checkpoint, an exported backbone's detector or
an official Cream release file; the EMA weights are taken where the file has
them. It is loaded strictly: a file for another arch is an error that lists
the mismatches, not a silently half-loaded model.
"""
import argparse
import sys

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import cream_det  # noqa: F401  (registers models, datasets, metrics)
from cream_det.checkpoint import load_weights
from cream_det.runner_utils import USER_ERRORS, add_runner_args, config_from_args


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runner_args(parser, training=False)
    parser.add_argument('--show-dir', help='detection: save pictures of the detections here '
                        "(inside the work dir's timestamped folder, as mmdet does)")
    args = parser.parse_args()
    try:
        cfg = config_from_args(args)
        cfg.load_from = None  # load_weights below, strictly
        if args.show_dir:
            visualization = cfg.default_hooks.get('visualization')
            if visualization is None:
                raise KeyError('--show-dir: the config has no visualization hook '
                               '(default_hooks.visualization), as mmdet configs have')
            visualization.update(draw=True, test_out_dir=args.show_dir)
        runner = Runner.from_cfg(cfg)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        which = load_weights(model, args.checkpoint)
        runner.logger.info(f'loaded {which} of {args.checkpoint}')
        runner.test()
    except USER_ERRORS as err:
        sys.exit(f'error: {err.args[0] if len(err.args) == 1 else err}')


if __name__ == '__main__':
    main()
