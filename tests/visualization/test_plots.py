"""The pictures of a finished search: board.png (the board in a cloud of
sampled paths) and training.png (the board and the losses over a run)."""
import os.path as osp
import random

import numpy as np
import pytest
import torch
from PIL import Image

from cream_det.errors import MissingFileError
from cream_det.visualization.search_plots import (BOARD_FIGSIZE, DPI, TRAINING_FIGSIZE, plot_board_of,
                                    plot_search, read_scalars)


def _image_of(path, figsize):
    assert osp.getsize(path) > 10_000, path
    with Image.open(path) as image:
        assert image.format == 'PNG'
        assert image.size == (round(figsize[0] * DPI), round(figsize[1] * DPI))


def test_board_and_training_pictures(searched, tmp_path):
    searched = searched[0]  # the shared tiny search's work dir
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    result = plot_search(str(searched), str(tmp_path / 'out'), num_paths=3, calib_batches=1)
    assert torch.equal(torch.get_rng_state(), states[0])  # the caller's random state kept
    assert (np.random.get_state()[1] == states[1]).all() and random.getstate() == states[2]
    assert result['board'] == str(tmp_path / 'out' / 'board.png')
    assert result['training'] == str(tmp_path / 'out' / 'training.png')
    _image_of(result['board'], BOARD_FIGSIZE)
    _image_of(result['training'], TRAINING_FIGSIZE)

    data = result['data']
    assert len(data['cloud']) == 3
    for point in data['cloud']:
        assert 0.25 <= point['flops'] / 1e6 <= 0.275  # the tiny search's constraint
        assert 0 <= point['batch_score'] <= 100 and 0 <= point['held_out'] <= 100
    assert data['board'] and all(0 <= e['held_out'] <= 100 for e in data['board'])
    assert data['chosen']['arch'] == data['board'][0]['arch']  # the official rule's choice
    # The main job's call after its search: board.png alone.
    again = plot_board_of(str(searched), num_paths=1, out=str(tmp_path / 'b.png'),
                          calib_batches=1)
    assert again['board'] == str(tmp_path / 'b.png') and len(again['data']['cloud']) == 1
    _image_of(again['board'], BOARD_FIGSIZE)
    # The board's warm-up: its keys appear in the log only once it holds a path.
    records = read_scalars([str(p) for p in searched.glob('*/vis_data/scalars.json')])
    assert 'board_best' not in records[0] and 'board_best' in records[-1]


@pytest.mark.slow
def test_errors_name_what_is_missing(tmp_path, run_tool):
    with pytest.raises(MissingFileError, match='board.json does not exist'):
        plot_board_of(str(tmp_path))
    result = run_tool('tools/analysis_tools/plot_board.py', str(tmp_path), check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert f'error: {tmp_path}/board.json does not exist' in result.stderr
