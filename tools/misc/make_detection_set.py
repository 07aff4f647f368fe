"""Write the small COCO-format detection set of Fashion-MNIST items on photos.

    python tools/misc/make_detection_set.py OUT_DIR [--seed 0] [--num-train 200] [--num-val 50]
                                       [--image-size 160] [--overwrite]

OUT_DIR gets annotations/instances_{train,val}.json and the JPEG images in
train/ and val/ (mmdet's COCO layout); a config reads it with CocoDataset and
``metainfo=FASHION_DETECTION_METAINFO`` from cream_det.datasets. The same
seed writes the same files.
"""
import inspect

from cream_det.cli import parser_for, user_errors
from cream_det.datasets import make_detection_set

DEFAULTS = {name: p.default for name, p in inspect.signature(make_detection_set).parameters.items()}


def main():
    parser = parser_for(__doc__)
    parser.add_argument('out_dir', help='folder to write (empty or new, unless --overwrite)')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'],
                        help='random seed (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=DEFAULTS['num_train'],
                        help='train images (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=DEFAULTS['num_val'],
                        help='val images (default: %(default)s)')
    parser.add_argument('--image-size', type=int, default=DEFAULTS['image_size'],
                        help='side of the square images (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace train/, val/ and the annotation files of a non-empty OUT_DIR')
    args = parser.parse_args()
    with user_errors():
        written = make_detection_set(args.out_dir, seed=args.seed, num_train=args.num_train,
                                     num_val=args.num_val, image_size=args.image_size,
                                     overwrite=args.overwrite)
    train, val = written['train'], written['val']
    print(f'{args.out_dir}: {train["images"]} train images ({train["objects"]} objects), '
          f'{val["images"]} val images ({val["objects"]} objects), '
          f'{args.image_size}x{args.image_size}, seed {args.seed}')


if __name__ == '__main__':
    main()
