"""Turn a pretraining or search checkpoint into a backbone file for the detectors.

    python tools/export_backbone.py CONFIG CHECKPOINT OUT.pth
    python tools/export_backbone.py SEARCH_CONFIG SEARCH_CHECKPOINT OUT.pth [--arch ARCH]

CHECKPOINT is an mmengine checkpoint of CONFIG (its ``state_dict`` holds the
EMA weights when EMAHook trained it) or an official release file (its
``state_dict_ema`` where present). It is checked against CONFIG's model and
OUT gets the backbone's weights only, under ``backbone.`` keys, without the
classification head, plus the arch in ``meta``; a detection config loads it
with ``init_cfg=dict(type='Pretrained', checkpoint='OUT.pth', prefix='backbone.')``.

With a search config and checkpoint, the backbone is one path of the
supernet, with the weights it inherits: ARCH (an arch.json), or the top of
the board.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.registry import MODELS

import cream_det  # noqa: F401  (registers the classifier)
from cream_det.checkpoint import load_weights
from cream_det.registry import resolve_arch
from cream_det.runner_utils import USER_ERRORS
from cream_det.search import CreamSearch

HEAD = ('conv_head.', 'classifier.')


def export_backbone(config: str, checkpoint: str, out: str, arch: str = None) -> dict:
    model = MODELS.build(Config.fromfile(config).model)
    which = load_weights(model, checkpoint)
    if isinstance(model, CreamSearch):
        path = model.split_path(model.board.paths[0].tolist()) if arch is None \
            else resolve_arch(arch)
        backbone = model.supernet.export_child(path)
        which = f'supernet path ({"given arch" if arch else "top of the board"})'
    elif arch is not None:
        raise ValueError('--arch is for search checkpoints; this config trains '
                         f'{model.backbone.arch}')
    else:
        backbone = model.backbone
    state = {'backbone.' + k: v for k, v in backbone.state_dict().items()
             if not k.startswith(HEAD)}
    meta = dict(arch=backbone.arch.to_dict(), source=osp.abspath(checkpoint),
                weights=which, description=str(backbone.arch))
    torch.save(dict(state_dict=state, meta=meta), out)
    return meta


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoint', help='its checkpoint, or an official release file')
    parser.add_argument('out', help='the backbone file to write')
    parser.add_argument('--arch', help='search checkpoints: the path to export, as an arch '
                        'file (default: the top of the board)')
    args = parser.parse_args()
    try:
        meta = export_backbone(args.config, args.checkpoint, args.out, args.arch)
    except USER_ERRORS as err:
        sys.exit(f'error: {err.args[0] if len(err.args) == 1 else err}')
    print(f'{args.out}: backbone {meta["description"]}, from the {meta["weights"]} '
          f'of {args.checkpoint}')


if __name__ == '__main__':
    main()
