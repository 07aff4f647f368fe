"""Turn a pretraining checkpoint into a backbone file for the detectors.

    python tools/export_backbone.py CONFIG CHECKPOINT OUT.pth

CHECKPOINT is an mmengine checkpoint of CONFIG (its ``state_dict`` holds the
EMA weights when EMAHook trained it) or an official release file (its
``state_dict_ema`` where present). It is checked against CONFIG's model and
OUT gets the backbone's weights only, under ``backbone.`` keys, without the
classification head, plus the arch in ``meta``; a detection config loads it
with ``init_cfg=dict(type='Pretrained', checkpoint='OUT.pth', prefix='backbone.')``.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.registry import MODELS

import cream_det  # noqa: F401  (registers the classifier)
from cream_det.checkpoint import load_weights
from cream_det.runner_utils import USER_ERRORS

HEAD = ('conv_head.', 'classifier.')


def export_backbone(config: str, checkpoint: str, out: str) -> dict:
    model = MODELS.build(Config.fromfile(config).model)
    which = load_weights(model, checkpoint)
    state = {'backbone.' + k: v for k, v in model.backbone.state_dict().items()
             if not k.startswith(HEAD)}
    meta = dict(arch=model.backbone.arch.to_dict(), source=osp.abspath(checkpoint),
                weights=which, description=str(model.backbone.arch))
    torch.save(dict(state_dict=state, meta=meta), out)
    return meta


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoint', help='its checkpoint, or an official release file')
    parser.add_argument('out', help='the backbone file to write')
    args = parser.parse_args()
    try:
        meta = export_backbone(args.config, args.checkpoint, args.out)
    except USER_ERRORS as err:
        sys.exit(f'error: {err.args[0] if len(err.args) == 1 else err}')
    print(f'{args.out}: backbone {meta["description"]}, from the {meta["weights"]} '
          f'of {args.checkpoint}')


if __name__ == '__main__':
    main()
