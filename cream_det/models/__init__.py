from .cream_net import CreamNet
from .supernet import CreamSuperNet

__all__ = ['CreamNet', 'CreamSuperNet']
