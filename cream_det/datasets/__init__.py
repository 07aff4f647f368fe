"""Data: classification images for the search and the pretraining
(Fashion-MNIST, the ImageNet folder layout) and the generated COCO-format
detection set."""
from .classification import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, FashionMNIST, ImageFolderData
from .fashion_det import FASHION_DETECTION_METAINFO, make_detection_set

__all__ = ['FASHION_DETECTION_METAINFO', 'FASHION_MNIST_CLASSES', 'FASHION_MNIST_DIR',
           'FashionMNIST', 'ImageFolderData', 'make_detection_set']
