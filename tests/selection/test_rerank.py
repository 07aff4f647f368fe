"""The second stage after the search: a shortlist by the supernet's
estimate, each candidate trained further from its inherited weights."""
import json

import pytest
import torch

from cream_det.arch import Arch
from cream_det.selection.rerank import rerank, standalone_cfg


@pytest.mark.slow
def test_a_candidate_starts_from_its_inherited_weights(searched):
    from mmengine.runner import Runner
    work_dir, cfg = searched
    checkpoint = str(work_dir / 'iter_12.pth')
    saved = torch.load(checkpoint, weights_only=False)['state_dict']
    arch = Arch.load(str(work_dir / 'arch.json'))
    runner = Runner.from_cfg(standalone_cfg(cfg, arch, str(work_dir / 'again'), 2,
                                            init_checkpoint=checkpoint))
    runner.load_or_resume()
    state = runner.model.state_dict()
    weights = [k for k in saved if k.startswith('supernet.') and k in state]
    assert weights and all(torch.equal(state[k], saved[k]) for k in weights)


@pytest.mark.slow
def test_rerank_keeps_the_best_of_the_shortlist(searched, tmp_path):
    work_dir, cfg = searched
    checkpoint = str(work_dir / 'iter_12.pth')
    arch = rerank(cfg, checkpoint, str(tmp_path), k=2, iters=2, num_paths=3, logger=print)
    listed = json.load(open(tmp_path / 'rerank.json'))
    candidates = listed['candidates']
    assert len(candidates) == 2 and listed['k'] == 2
    assert candidates[0]['estimate'] >= candidates[1]['estimate']  # the best estimates
    best = max(candidates, key=lambda c: c['score'])
    assert str(arch) == best['arch'] and arch.meta['held_out'] == best['score']
    assert arch.meta['rerank']['cost_iters'] == 4 and arch.meta['rule'] == 'rerank'
    assert 0.25e6 <= arch.meta['flops'] <= 0.275e6  # within the search's constraint
    assert Arch.load(str(tmp_path / 'arch.json')).meta['rerank'] == arch.meta['rerank']
    baseline = rerank(cfg, checkpoint, str(tmp_path / 'random'), k=2, iters=2,
                      shortlist='random', logger=print)
    assert baseline.meta['rerank']['shortlist'] == 'random'


@pytest.mark.slow
def test_select_arch_rerank(searched, tmp_path, run_tool):
    work_dir, cfg = searched
    config = str(tmp_path / 'search.py')
    cfg.dump(config)
    tool = ['tools/select_arch.py', config, str(work_dir / 'iter_12.pth'),
            '--out-dir', str(tmp_path / 'out')]
    out = run_tool(*tool, '--rerank', '2', '--rerank-iters', '2', '--paths', '2').stdout
    arch = json.load(open(tmp_path / 'out' / 'arch.json'))
    assert 'second stage, 2 x 2 = 4 iterations' in out
    assert arch['rerank']['k'] == 2 and arch['rerank']['cost_iters'] == 4 and arch['stages']
    bad = run_tool(*tool, '--rerank', '2', '--flops', '0.27', check=False)
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr
    assert 'no --flops, --latency-ms or --rule' in bad.stderr
