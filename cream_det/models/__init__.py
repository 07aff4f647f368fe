from .classifier import CreamClassifier
from .cream_net import CreamNet
from .supernet import CreamSuperNet

__all__ = ['CreamClassifier', 'CreamNet', 'CreamSuperNet']
