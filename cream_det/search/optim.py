"""One optimizer per named submodule, as an mmengine ``OptimWrapperDict``.

mmengine builds a dict of optimizers only from ready-made wrappers and leaves
a constructor for configs to the downstream projects (mmagic has one); this
is that constructor: each key of the config names a submodule of the model
and is built by mmengine's default constructor (``paramwise_cfg`` included).
"""
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SubmoduleOptimWrapperConstructor:

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        if paramwise_cfg is not None:
            raise ValueError('give paramwise_cfg inside each submodule\'s optim wrapper')
        self.cfgs = {name: dict(cfg) for name, cfg in optim_wrapper_cfg.items()}

    def __call__(self, model) -> OptimWrapperDict:
        model = model.module if is_model_wrapper(model) else model
        wrappers = {}
        for name, cfg in self.cfgs.items():
            if not hasattr(model, name):
                raise KeyError(f'optim_wrapper key {name!r} names no submodule of '
                               f'{type(model).__name__}')
            paramwise = cfg.pop('paramwise_cfg', None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(getattr(model, name))
        return OptimWrapperDict(**wrappers)
