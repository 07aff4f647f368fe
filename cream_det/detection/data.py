"""mmdet data configs as the searches' held-out scoring needs them."""
from __future__ import annotations

import copy
import inspect

from ..errors import ConfigError


def packing_ground_truth(loader_cfg: dict) -> dict:
    """A copy of a held-out loader config whose last ``PackDetInputs`` also
    packs ``instances``: CocoMetric without an annotation file takes the
    ground truth from the samples, and mmdet's test pipelines leave it out
    (the metric would stop at the end of the search)."""
    from mmdet.datasets.transforms import PackDetInputs
    loader_cfg = copy.deepcopy(loader_cfg)
    pipeline = (loader_cfg.get('dataset') or {}).get('pipeline') or []
    packs = [t for t in pipeline if t.get('type') in ('PackDetInputs', 'mmdet.PackDetInputs')]
    if not packs:
        raise ConfigError('the held-out dataloader: expected dataset.pipeline with a '
                          'PackDetInputs transform (for the ground truth CocoMetric reads)')
    default = inspect.signature(PackDetInputs.__init__).parameters['meta_keys'].default
    keys = tuple(packs[-1].get('meta_keys', default))
    if 'instances' not in keys:
        packs[-1]['meta_keys'] = keys + ('instances',)
    return loader_cfg
