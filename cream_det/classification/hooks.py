"""The arch travels with its weights: every checkpoint of a Cream
classifier carries the arch it was trained for in ``meta['arch']``, so that a
detection backbone can load it with nothing but the checkpoint
(:class:`~cream_det.models.CreamNet` reads the arch from there)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ArchInMetaHook(Hook):
    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        checkpoint.setdefault('meta', {})['arch'] = model.backbone.arch.to_dict()
