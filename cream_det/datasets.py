"""Image classification data for the search (and pretraining) runs.

Each item is ``dict(inputs=uint8 tensor CxHxW, data_samples=class index)``;
mmengine's ``ImgDataPreprocessor`` normalises and batches them.

- :class:`ImageFolderData`: the ImageNet layout, ``root/<split>/<class>/*.JPEG``
  (read by torchvision's ``ImageFolder``).
- :class:`FashionMNIST`: the real Fashion-MNIST files as the Debian package
  ``dataset-fashion-mnist`` installs them (idx format, gzip), the embedded
  default that runs on a CPU.
"""
from __future__ import annotations

import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.registry import DATASETS
from torch.utils.data import Dataset
from torchvision import transforms as T
from torchvision.datasets import ImageFolder

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
            raise ValueError(f"split={split!r}: expected 'train' or 'test'")
        images = os.path.join(root, f'{prefix}-images-idx3-ubyte.gz')
        labels = os.path.join(root, f'{prefix}-labels-idx1-ubyte.gz')
        for path in (images, labels):
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f'Fashion-MNIST file {path} is missing: install the Debian package '
                    'dataset-fashion-mnist (bash tools/run.sh env does) or pass root=')
        if resolution < 28:
            raise ValueError(f'resolution={resolution}: Fashion-MNIST images are 28x28')
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
        left = self.pad // 2
        img = F.pad(img, (left, self.pad - left, left, self.pad - left))
        return dict(inputs=img.expand(3, -1, -1).contiguous(), data_samples=int(self.labels[i]))


@DATASETS.register_module()
class ImageFolderData(Dataset):
    """The ImageNet folder layout: ``root/<split>/<class name>/<image>``.

    Training crops are random-resized with flips; evaluation resizes to
    ``resolution / crop_pct`` and takes the centre crop.
    """

    def __init__(self, root: str, split: str = 'train', resolution: int = 224,
                 crop_pct: float = 0.875, augment: bool = None):
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f'dataset folder {folder} does not exist: expected '
                                    f'{root}/{split}/<class>/<images>')
        classes = [d for d in sorted(os.listdir(folder))
                   if os.path.isdir(os.path.join(folder, d))]
        if not classes:
            raise FileNotFoundError(f'dataset folder {folder} has no class folders: expected '
                                    f'{folder}/<class>/<images>')
        augment = split == 'train' if augment is None else augment
        if augment:
            transform = T.Compose([T.RandomResizedCrop(resolution), T.RandomHorizontalFlip(),
                                   T.PILToTensor()])
        else:
            transform = T.Compose([T.Resize(int(round(resolution / crop_pct))),
                                   T.CenterCrop(resolution), T.PILToTensor()])
        try:
            self.folder = ImageFolder(folder, transform=transform)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'dataset folder {folder}: {err}') from None
        self.metainfo = dict(classes=tuple(self.folder.classes))

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> dict:
        img, label = self.folder[i]
        return dict(inputs=img, data_samples=label)
