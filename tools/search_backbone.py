r"""Search a backbone with Cream (prioritized paths, meta-matching), or with
the detection-aware search inside a detector (CreamDetSearch).

    python tools/search_backbone.py configs/cream/cream-search_fashion-mnist.py
    python tools/search_backbone.py \
        configs/cream_det_search/retinanet_cream-supernet_fpn_fashion-det.py
    python tools/search_backbone.py CONFIG --resume            # latest checkpoint
    torchrun --nproc_per_node 8 tools/search_backbone.py CONFIG --launcher pytorch

The work dir receives arch.json (the chosen arch), board.json (the final
board) and checkpoints that hold the board (and the meta network).
"""
import cream_det  # noqa: F401  (registers the search model, hooks, datasets)
from cream_det.cli import train_from_command_line

if __name__ == '__main__':
    train_from_command_line(__doc__)
