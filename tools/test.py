"""Evaluate a Cream classifier (top-1/top-5) or an mmdet detector with a
Cream backbone (COCO bbox mAP) on the config's test set.

    python tools/test.py configs/cream/cream-287_8xb128_in1k.py checkpoints/287.pth.tar
    python tools/test.py CONFIG work_dirs/RUN/epoch_1.pth --show-dir shown

CHECKPOINT may be an mmengine checkpoint, an exported backbone's detector or
an official Cream release file; the EMA weights are taken where the file has
them. It is loaded strictly: a file for another arch is an error that lists
the mismatches, not a silently half-loaded model.
"""
import cream_det  # noqa: F401  (registers models, datasets, metrics)
from cream_det.cli import add_runner_args, parser_for, test_from_args

if __name__ == '__main__':
    parser = parser_for(__doc__)
    add_runner_args(parser, training=False)
    parser.add_argument('--show-dir', help='detection: save pictures of the detections here '
                        "(inside the work dir's timestamped folder, as mmdet does)")
    test_from_args(parser.parse_args())
