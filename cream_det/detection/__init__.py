"""What mmdet's detectors need from our backbones and searches: neck
channels derived from the space, held-out loaders that pack the ground truth."""
from .data import packing_ground_truth
from .necks import backbone_channels, check_neck_channels

__all__ = ['backbone_channels', 'check_neck_channels', 'packing_ground_truth']
