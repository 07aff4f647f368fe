"""Optimisers that mmengine's registries lack.

- timm's TensorFlow-style RMSprop, which the official retrain recipe uses
  (mmengine registers torch's optimisers only).
- One optimizer per named submodule, as an mmengine ``OptimWrapperDict``, for
  the search's supernet and meta network. mmengine builds a dict of
  optimizers only from ready-made wrappers and leaves a constructor for
  configs to the downstream projects (mmagic has one); this is that
  constructor: each key of the config names a submodule of the model and is
  built by mmengine's default constructor (``paramwise_cfg`` included).
"""
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS
from timm.optim import RMSpropTF

from .errors import ConfigError, UnknownNameError

OPTIMIZERS.register_module(module=RMSpropTF)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SubmoduleOptimWrapperConstructor:

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        if paramwise_cfg is not None:
            raise ConfigError("give paramwise_cfg inside each submodule's optim wrapper")
        self.cfgs = {name: dict(cfg) for name, cfg in optim_wrapper_cfg.items()}

    def __call__(self, model) -> OptimWrapperDict:
        model = model.module if is_model_wrapper(model) else model
        wrappers = {}
        for name, cfg in self.cfgs.items():
            if not hasattr(model, name):
                raise UnknownNameError(f'optim_wrapper key {name!r} names no submodule of '
                                       f'{type(model).__name__}')
            paramwise = cfg.pop('paramwise_cfg', None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(getattr(model, name))
        return OptimWrapperDict(**wrappers)
