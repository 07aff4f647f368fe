"""Image classification data for the search (and pretraining) runs.

Each item is ``dict(inputs=CxHxW tensor, data_samples=class index)``;
mmengine's ``ImgDataPreprocessor`` batches them.

- :class:`ImageFolderData`: the ImageNet layout, ``root/<split>/<class>/*.JPEG``
  (read by torchvision's ``ImageFolder``), with timm's ImageNet transforms
  (RandAugment, random erasing...), which normalise: float tensors.
- :class:`FashionMNIST`: the real Fashion-MNIST files as the Debian package
  ``dataset-fashion-mnist`` installs them (idx format, gzip), the embedded
  default that runs on a CPU: uint8 tensors, normalised by the preprocessor.

Each class's ``image_transform(**dataset_args)`` turns one PIL image into
what its evaluation items hold, for inference on images from elsewhere.
"""
from __future__ import annotations

import gzip
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.registry import DATASETS
from PIL import Image
from timm.data import create_transform
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder

from ..errors import ConfigError, MissingFileError
from ..space import check_resolution

FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
                         'Shirt', 'Sneaker', 'Bag', 'Ankle boot')


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic = int.from_bytes(data[:4], 'big')
    ndim = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@DATASETS.register_module()
class FashionMNIST(Dataset):
    """Fashion-MNIST, padded from 28 to ``resolution`` and repeated to 3
    channels so that ImageNet-shaped networks take it unchanged.

    Args:
        split: 'train' (60,000 images) or 'test' (10,000).
        resolution: side of the padded image (>= 28).
        indices: optional (start, stop) to take a slice, e.g. a held-out part.
        augment: random shifts of up to 4 pixels and horizontal flips.
    """

    def __init__(self, split: str = 'train', resolution: int = 32, root: str = FASHION_MNIST_DIR,
                 indices: tuple = None, augment: bool = False):
        prefix = {'train': 'train', 'test': 't10k'}.get(split)
        if prefix is None:
            raise ConfigError(f"split={split!r}: expected 'train' or 'test'")
        images = os.path.join(root, f'{prefix}-images-idx3-ubyte.gz')
        labels = os.path.join(root, f'{prefix}-labels-idx1-ubyte.gz')
        for path in (images, labels):
            if not os.path.isfile(path):
                raise MissingFileError(
                    f'Fashion-MNIST file {path} is missing: install the Debian package '
                    'dataset-fashion-mnist (bash tools/run.sh env does) or pass root=')
        check_resolution(resolution)
        self.images = torch.from_numpy(_read_idx(images).copy())
        self.labels = torch.from_numpy(_read_idx(labels).astype(np.int64))
        if indices is not None:
            self.images = self.images[indices[0]:indices[1]]
            self.labels = self.labels[indices[0]:indices[1]]
        self.pad = resolution - 28
        self.augment = augment
        self.metainfo = dict(classes=FASHION_MNIST_CLASSES)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        img = self.images[i][None]
        if self.augment:
            img = F.pad(img, (4, 4, 4, 4))
            dx, dy = torch.randint(0, 9, (2,)).tolist()
            img = img[:, dy:dy + 28, dx:dx + 28]
            if torch.rand(()) < 0.5:
                img = img.flip(-1)
        return dict(inputs=_pad_to_rgb(img, self.pad), data_samples=int(self.labels[i]))

    @staticmethod
    def image_transform(resolution: int = 32, **unused):
        """A photo as the network sees Fashion-MNIST: the centred square,
        grey, 28x28, padded with black."""
        check_resolution(resolution)

        def transform(image: Image.Image) -> torch.Tensor:
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            square = image.convert('L').crop((left, top, left + side, top + side))
            img = torch.from_numpy(np.asarray(square.resize((28, 28), Image.BILINEAR)).copy())
            return _pad_to_rgb(img[None], resolution - 28)
        return transform


def _pad_to_rgb(img: torch.Tensor, pad: int) -> torch.Tensor:
    left = pad // 2
    img = F.pad(img, (left, pad - left, left, pad - left))
    return img.expand(3, -1, -1).contiguous()


# Presets of timm's create_transform arguments. 'imagenet' is timm's default
# recipe, the official one: random-resized crops at scale 0.08-1, flips,
# colour jitter 0.4, evaluation on the centre 87.5 %. 'small' is for small
# images (digits, icons, 32-64 px), where such crops are unreadable and flips
# can change the class: crops at scale 0.6-1, no flip, no jitter, the whole
# image in evaluation.
PRESETS = dict(imagenet=dict(crop_pct=0.875),
               small=dict(crop_pct=1.0, scale=(0.6, 1.0), hflip=0., color_jitter=None))
_TRAIN_ONLY = ('scale', 'hflip', 'color_jitter')


def _preset_options(preset: str, timm_options: dict) -> dict:
    if preset not in PRESETS:
        raise ConfigError(f'preset={preset!r}: expected one of {tuple(PRESETS)}')
    return {**PRESETS[preset], **timm_options}  # what the config gives wins


@DATASETS.register_module()
class ImageFolderData(Dataset):
    """The ImageNet folder layout: ``root/<split>/<class name>/<image>``.

    Images go through timm's transforms (``timm.data.create_transform``) with
    the ``preset``'s arguments (see ``PRESETS``: 'imagenet', the official
    recipe, or 'small') and the options given (``auto_augment='rand-m9-mstd0.5'``,
    ``re_prob=0.2``, ``interpolation='random'``...): for training, a
    random-resized crop and the augmentation; for evaluation, a resize to
    ``resolution / crop_pct`` and the centre crop.

    Args:
        train: training transforms; by default for the 'train' split.
        preset: 'imagenet' or 'small'.
        **timm_options: more ``create_transform`` arguments.
    """

    def __init__(self, root: str, split: str = 'train', resolution: int = 224,
                 train: bool = None, preset: str = 'imagenet', **timm_options):
        check_resolution(resolution)
        options = _preset_options(preset, timm_options)
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            raise MissingFileError(f'dataset folder {folder} does not exist: expected '
                                   f'{root}/{split}/<class>/<images>')
        classes = [d for d in sorted(os.listdir(folder))
                   if os.path.isdir(os.path.join(folder, d))]
        if not classes:
            raise MissingFileError(f'dataset folder {folder} has no class folders: expected '
                                   f'{folder}/<class>/<images>')
        train = split == 'train' if train is None else train
        if train and resolution < 64 and 'scale' not in options:
            warnings.warn(f'ImageFolderData at resolution {resolution} with the ImageNet crop '
                          'scale 0.08-1: crops of images this small are often unreadable; '
                          "preset='small' (or scale=(0.6, 1.0)) may suit them better")
        if not train:
            options = {k: v for k, v in options.items() if k not in _TRAIN_ONLY}
        self.transform = create_transform(resolution, is_training=train, **options)
        try:
            self.folder = ImageFolder(folder, transform=self.transform)
        except FileNotFoundError as err:
            raise MissingFileError(f'dataset folder {folder} holds no images in its class '
                                   f'folders ({", ".join(classes[:5])}...): {err}') from None
        self.metainfo = dict(classes=tuple(self.folder.classes))

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> dict:
        img, label = self.folder[i]
        return dict(inputs=img, data_samples=label)

    @staticmethod
    def image_transform(resolution: int = 224, preset: str = 'imagenet', **timm_options):
        """The evaluation transform, without the dataset's files."""
        check_resolution(resolution)
        evaluation = {k: v for k, v in _preset_options(preset, timm_options).items()
                      if k in ('interpolation', 'mean', 'std', 'crop_pct')}
        transform = create_transform(resolution, is_training=False, **evaluation)
        return lambda image: transform(image.convert('RGB'))
