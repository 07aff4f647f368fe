"""What mmdet's detectors need from our backbones."""
from .necks import backbone_channels, check_neck_channels

__all__ = ['backbone_channels', 'check_neck_channels']
