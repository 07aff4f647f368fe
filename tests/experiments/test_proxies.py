"""The free estimates every audit reports beside the supernet's."""
import math

from search_utils import tiny_search_cfg

from cream_det.experiments.proxies import free_estimates
from cream_det.experiments.ranking import audit_paths


def test_free_estimates_of_a_tiny_search(tmp_path):
    from mmengine.registry import MODELS
    cfg = tiny_search_cfg(tmp_path)
    model = MODELS.build(cfg.model)
    paths = audit_paths(model, 4, include_board=False)
    first = free_estimates(cfg, model, paths)
    archs = {str(model.supernet.arch_of(p)) for p in paths}
    assert set(first) == {'flops', 'params', 'snip'}
    assert all(set(v) == archs for v in first.values())
    for p in paths:
        name = str(model.supernet.arch_of(p))
        assert first['flops'][name] == model.cost.flops(p)
        assert first['params'][name] == model.cost.params(p)
    snips = list(first['snip'].values())
    assert all(math.isfinite(s) and s > 0 for s in snips) and len(set(snips)) == len(snips)
    # At initialisation and on one seeded batch: the same figures again.
    assert free_estimates(cfg, model, paths)['snip'] == first['snip']
