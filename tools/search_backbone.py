"""Search a backbone with Cream (prioritized paths, meta-matching).

    python tools/search_backbone.py configs/cream/cream-search_fashion-mnist.py
    python tools/search_backbone.py CONFIG --resume            # latest checkpoint
    torchrun --nproc_per_node 8 tools/search_backbone.py CONFIG --launcher pytorch

The work dir receives arch.json (the chosen arch), board.json (the final
board) and checkpoints that hold the board and the meta network.
"""
import argparse
import sys

from mmengine.runner import Runner

import cream_det  # noqa: F401  (registers the search model, hooks, datasets)
from cream_det.runner_utils import add_runner_args, config_from_args


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runner_args(parser)
    args = parser.parse_args()
    try:
        cfg = config_from_args(args)
        runner = Runner.from_cfg(cfg)
    except (FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f'error: {err.args[0] if err.args else err}')
    try:
        runner.train()
    except (FileNotFoundError, FloatingPointError) as err:  # a dataset, a diverged run
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
