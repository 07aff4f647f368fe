"""timm's TensorFlow-style RMSprop, which the official retrain recipe uses,
in mmengine's optimizer registry (mmengine registers torch's only)."""
from mmengine.registry import OPTIMIZERS
from timm.optim import RMSpropTF

OPTIMIZERS.register_module(module=RMSpropTF)
