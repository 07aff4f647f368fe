"""Train a Cream classifier (pretraining) or an mmdet detector with a Cream
backbone, from an mmengine/mmdet config, as mmdet's own tools/train.py does.

    python tools/train.py configs/cream/cream_fashion-mnist.py
    torchrun --nproc_per_node 8 tools/train.py configs/cream/cream-287_8xb128_in1k.py \\
        --launcher pytorch --auto-scale-lr
    python tools/train.py CONFIG --resume                     # latest checkpoint
    python tools/train.py CONFIG --cfg-options model.backbone.arch=work_dirs/SEARCH/arch.json
"""
import cream_det  # noqa: F401  (registers models, datasets, metrics, optimisers)
from cream_det.cli import train_from_command_line

if __name__ == '__main__':
    train_from_command_line(__doc__)
