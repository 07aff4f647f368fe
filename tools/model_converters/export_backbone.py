"""A backbone file for the detectors, from what needs code to become one: a
supernet path with the weights it inherits from a search checkpoint, or an
official release file.

    python tools/model_converters/export_backbone.py SEARCH_CONFIG SEARCH_CKPT OUT.pth [--arch ARCH]
    python tools/model_converters/export_backbone.py configs/cream/cream-287_8xb128_in1k.py \\
        checkpoints/287.pth.tar OUT.pth

OUT gets the backbone's weights under ``backbone.`` keys, without the
classification head, and the arch in ``meta``; a detection config loads it
with ``init_cfg=dict(type='Pretrained', checkpoint='OUT.pth', prefix='backbone.')``
and may leave ``arch`` out. With a search config, ARCH (an arch.json) picks
the path; by default the top of the board. A pretraining checkpoint of
tools/train.py needs no export: a detection config loads it directly.
"""
import cream_det  # noqa: F401  (registers the models)
from cream_det.cli import add_cfg_options, load_config, parser_for, user_errors
from cream_det.export import export_backbone

if __name__ == '__main__':
    parser = parser_for(__doc__)
    parser.add_argument('config', help='the search or classification config')
    parser.add_argument('checkpoint', help='its checkpoint, or an official release file')
    parser.add_argument('out', help='the backbone file to write')
    parser.add_argument('--arch', help='search checkpoints: the path to export, as an arch '
                        'file (default: the top of the board)')
    add_cfg_options(parser)
    args = parser.parse_args()
    with user_errors():
        meta = export_backbone(load_config(args.config, args.cfg_options), args.checkpoint,
                               args.out, args.arch)
    print(f'{args.out}: backbone {meta["description"]}, from the {meta["weights"]} '
          f'of {args.checkpoint}')
