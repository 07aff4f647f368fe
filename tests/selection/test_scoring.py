"""Scoring paths from a search checkpoint: the held-out set is read once,
and every later path is scored on the replayed batches as on fresh ones."""
import pytest
from mmengine.runner import Runner


@pytest.mark.slow
def test_replayed_held_out_batches_score_as_fresh_ones(searched):
    from cream_det.selection.choice import held_out_cfg, searched_model
    from cream_det.selection.scoring import ReplayedLoader
    work_dir, cfg = searched
    model, scorer = searched_model(cfg, str(work_dir / 'iter_12.pth'))
    assert isinstance(scorer.eval_loader, ReplayedLoader) and scorer.eval_loader.batches is None
    paths = [model.board.path(i) for i in range(len(model.board))]
    first = [scorer(model, p) for p in paths]  # the first reads, the others replay
    assert len(scorer.eval_loader.batches) == len(scorer.eval_loader)
    scorer.eval_loader = Runner.build_dataloader(model.held_out_loader(held_out_cfg(cfg)))
    assert [scorer(model, p) for p in paths] == first and len(set(first)) > 1
