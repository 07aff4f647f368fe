"""A tiny object-detection set of real material, for tests and a CPU demo.

Fashion-MNIST items (:mod:`cream_det.datasets.classification`) are pasted at random positions
and scales onto crops of the scikit-image sample photos, so that a detector has
real shapes on real clutter without a download. The layout is mmdet's COCO one::

    out_dir/annotations/instances_train.json    out_dir/train/000001.jpg ...
    out_dir/annotations/instances_val.json      out_dir/val/000001.jpg ...

and a config reads it with ``CocoDataset`` and
``metainfo=FASHION_DETECTION_METAINFO``. Train images hold items of
Fashion-MNIST's train split and val images items of its test split, so the
two never share an item; each annotation names its item
(``fashion_mnist_index``). A seed gives the same files byte for byte (with the
same Pillow and libjpeg).
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
from PIL import Image
from skimage import data as skimage_data

from ..errors import ConfigError, CreamError
from .classification import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, FashionMNIST

FASHION_DETECTION_METAINFO = dict(
    classes=FASHION_MNIST_CLASSES,
    palette=[(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
             (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)])

# RGB photos shipped inside scikit-image (no download).
PHOTOS = {
    'astronaut': skimage_data.astronaut,
    'chelsea': skimage_data.chelsea,
    'coffee': skimage_data.coffee,
    'rocket': skimage_data.rocket,
    'motorcycle': lambda: skimage_data.stereo_motorcycle()[0],
    'hubble_deep_field': skimage_data.hubble_deep_field,
    'immunohistochemistry': skimage_data.immunohistochemistry,
}
SPLITS = (('train', 'train'), ('val', 'test'))  # (our split, Fashion-MNIST split)
ITEM_THRESHOLD = 20  # items are bright on black; dimmer pixels are background noise
MAX_IOU = 0.3
PLACEMENT_TRIES = 10
JPEG_QUALITY = 90
MIN_IMAGE_SIZE = 32
MIN_OBJECT_SIZE = 8  # smaller, a 28x28 item loses its shape


class OutDirNotEmptyError(CreamError, FileExistsError):
    """The set would mix with other files."""


def make_detection_set(out_dir: str, seed: int = 0, num_train: int = 200, num_val: int = 50,
                       image_size: int = 160, objects_per_image: tuple = (1, 3),
                       object_size: tuple = (32, 80), overwrite: bool = False,
                       fashion_root: str = FASHION_MNIST_DIR) -> dict:
    """Write the set; returns per split its annotation file, image folder and counts.

    Args:
        image_size: side of the square images.
        objects_per_image: (min, max) items drawn per image; one that cannot
            be placed without overlapping an earlier one (IoU > 0.3) is dropped.
        object_size: (min, max) side of a scaled item, in pixels.
        overwrite: replace train/, val/ and the annotation files of a
            non-empty out_dir (other files there stay).
    """
    _check_sizes(num_train, num_val, image_size, objects_per_image, object_size)
    counts = dict(train=num_train, val=num_val)
    fashion = {split: FashionMNIST(fashion_split, root=fashion_root)
               for split, fashion_split in SPLITS}
    for split, items in fashion.items():
        if counts[split] * objects_per_image[1] > len(items):
            raise ConfigError(f'num_{split}={counts[split]}: expected at most '
                              f'{len(items) // objects_per_image[1]} images, as each may take '
                              f'{objects_per_image[1]} of the {len(items)} Fashion-MNIST items')
    _prepare_out_dir(out_dir, overwrite)
    photos = [Image.fromarray(load()) for load in PHOTOS.values()]
    params = dict(seed=seed, num_train=num_train, num_val=num_val, image_size=image_size,
                  objects_per_image=list(objects_per_image), object_size=list(object_size),
                  photos=list(PHOTOS))
    # One stream per split: the val set stays the same when num_train changes.
    streams = np.random.SeedSequence(seed).spawn(len(SPLITS))
    categories = [dict(id=label + 1, name=name) for label, name in enumerate(FASHION_MNIST_CLASSES)]
    written = {}
    for (split, fashion_split), stream in zip(SPLITS, streams):
        image_dir = os.path.join(out_dir, split)
        os.makedirs(image_dir)
        images, annotations = _make_split(
            np.random.default_rng(stream), fashion[split], photos, counts[split], image_size,
            objects_per_image, object_size, image_dir)
        ann_file = os.path.join(out_dir, 'annotations', f'instances_{split}.json')
        info = dict(description='Fashion-MNIST items on scikit-image photos '
                    '(cream_det.datasets.fashion_det)', fashion_mnist_split=fashion_split, **params)
        with open(ann_file, 'w') as f:
            json.dump(dict(info=info, images=images, annotations=annotations,
                           categories=categories), f)
        written[split] = dict(ann_file=ann_file, image_dir=image_dir, images=len(images),
                              objects=len(annotations))
    return written


def _check_sizes(num_train, num_val, image_size, objects_per_image, object_size):
    for name, count in (('num_train', num_train), ('num_val', num_val)):
        if count < 1:
            raise ConfigError(f'{name}={count}: expected at least 1 image')
    if image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f'image_size={image_size}: expected at least {MIN_IMAGE_SIZE}')
    low, high = objects_per_image
    if not 1 <= low <= high:
        raise ConfigError(f'objects_per_image={objects_per_image}: expected (min, max) '
                          'with 1 <= min <= max')
    low, high = object_size
    if not MIN_OBJECT_SIZE <= low <= high <= image_size:
        raise ConfigError(f'object_size={object_size}: expected (min, max) with '
                          f'{MIN_OBJECT_SIZE} <= min <= max <= image_size={image_size}')


def _prepare_out_dir(out_dir, overwrite):
    """Refuse to mix with other files unless told; then drop stale images of an earlier set."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise OutDirNotEmptyError(
                f'{out_dir} is not empty: pass overwrite=True (--overwrite) to replace its '
                'train/, val/ and annotations/instances_*.json')
        for split, _ in SPLITS:
            shutil.rmtree(os.path.join(out_dir, split), ignore_errors=True)
            ann_file = os.path.join(out_dir, 'annotations', f'instances_{split}.json')
            if os.path.isfile(ann_file):
                os.remove(ann_file)
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)


def _make_split(rng, fashion, photos, count, image_size, objects_per_image, object_size,
                image_dir):
    """Images on disk and their COCO entries; each Fashion-MNIST item is used at most once."""
    items, labels = fashion.images.numpy(), fashion.labels.numpy()
    item_order = iter(rng.permutation(len(labels)).tolist())
    images, annotations = [], []
    for image_id in range(1, count + 1):
        canvas = _background(rng, photos, image_size)
        boxes = []
        for _ in range(int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))):
            item = next(item_order)
            box = _paste_item(rng, canvas, items[item], boxes, object_size)
            if box is None:
                continue
            boxes.append(box)
            x1, y1, x2, y2 = box
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=int(labels[item]) + 1,
                bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                area=float((x2 - x1) * (y2 - y1)), iscrowd=0, fashion_mnist_index=item))
        file_name = f'{image_id:06d}.jpg'
        Image.fromarray(np.rint(canvas).astype(np.uint8)).save(
            os.path.join(image_dir, file_name), quality=JPEG_QUALITY)
        images.append(dict(id=image_id, file_name=file_name, width=image_size,
                           height=image_size))
    return images, annotations


def _background(rng, photos, image_size):
    """A random square crop of a random photo, from half its short side to all of it."""
    photo = photos[int(rng.integers(len(photos)))]
    short_side = min(photo.size)
    side = int(rng.integers(short_side // 2, short_side + 1))
    left = int(rng.integers(photo.width - side + 1))
    top = int(rng.integers(photo.height - side + 1))
    crop = photo.crop((left, top, left + side, top + side))
    return np.asarray(crop.resize((image_size, image_size), Image.BILINEAR), dtype=np.float32)


def _paste_item(rng, canvas, item, boxes, object_size):
    """Paint the scaled item where its box overlaps earlier ones little, with its
    intensity as alpha; returns its tight box (x1, y1, x2, y2), or None if no place was found."""
    side = int(rng.integers(object_size[0], object_size[1] + 1))
    scaled = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR))
    rows = np.flatnonzero((scaled > ITEM_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((scaled > ITEM_THRESHOLD).any(axis=0))
    for _ in range(PLACEMENT_TRIES):
        x, y = (int(v) for v in rng.integers(canvas.shape[1] - side + 1, size=2))
        box = (x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1)
        if all(box_iou(box, other) <= MAX_IOU for other in boxes):
            alpha = scaled[..., None].astype(np.float32) / 255
            region = canvas[y:y + side, x:x + side]
            region[:] = region * (1 - alpha) + scaled[..., None] * alpha
            return tuple(int(v) for v in box)
    return None


def box_iou(a, b) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
