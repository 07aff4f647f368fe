"""The README's main job: the whole pipeline on the embedded defaults, on
the CPU, each step the command a user would type (printed as it runs):

1. the Cream search on Fashion-MNIST (tools/search_backbone.py);
2. pretraining the chosen child on Fashion-MNIST (tools/train.py); its
   checkpoint carries the arch and is the detector's backbone as it is;
3. the detection-aware search (tools/search_backbone.py): the search's
   supernet inside RetinaNet on the generated detection set
   (tools/misc/make_detection_set.py), its arch printed next to step 1's;
4. RetinaNet with step 2's backbone on the generated set (tools/train.py),
   evaluated with COCO bbox mAP before and after training (tools/test.py);
5. detections on a real photo of the set's validation split, saved as a
   picture (mmdet's DetInferencer).

Figures are read from what mmengine writes to each work dir (the run's
``vis_data/scalars.json``, a test run's ``<timestamp>.json``) and
checkpoints from its ``last_checkpoint`` file.
"""
from __future__ import annotations

import glob
import json
import os.path as osp
import re
import statistics
import subprocess
import sys

from ..arch import Arch
from ..selection.det_choice import det_board_summary
from ..visualization.search_plots import plot_board_of
from ..selection.choice import board_summary

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH = 'configs/cream/cream-search_fashion-mnist.py'
PRETRAIN = 'configs/cream/cream_fashion-mnist.py'
DETECT = 'configs/retinanet/retinanet_cream-searched_fpn_fashion-det.py'
DET_SEARCH = 'configs/cream_det_search/retinanet_cream-supernet_fpn_fashion-det.py'
DETECTION_SET = 'data/fashion-det'


class StepFailed(RuntimeError):
    pass


def run_tool(*command: str) -> None:
    """Run one tool as a user would, echoing its output."""
    print('\n$ python ' + ' '.join(command), flush=True)
    process = subprocess.run([sys.executable, *command], cwd=ROOT)
    if process.returncode:
        raise StepFailed(f'step failed (exit code {process.returncode}): {" ".join(command)}')


def logged_metrics(work_dir: str) -> dict:
    """The last value of every scalar of the newest run in ``work_dir``:
    validation metrics of a training run (``vis_data/scalars.json``, one JSON
    object a line), or the metrics of a test run (``<timestamp>.json``)."""
    runs = sorted(d for d in glob.glob(osp.join(ROOT, work_dir, '*')) if re.fullmatch(
        r'\d{8}_\d{6}', osp.basename(d)))
    if not runs:
        raise StepFailed(f'{work_dir} holds no mmengine run')
    newest = runs[-1]
    scalars = osp.join(newest, 'vis_data', 'scalars.json')
    if osp.isfile(scalars):
        metrics = {}
        with open(scalars) as f:
            for line in f:
                metrics.update(json.loads(line))
        return metrics
    with open(osp.join(newest, osp.basename(newest) + '.json')) as f:
        return json.load(f)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a run wrote last (mmengine's CheckpointHook records it)."""
    with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
        return osp.relpath(f.read().strip(), ROOT)


def save_untrained_detector(config: str, out: str) -> None:
    """The detector before detection training (pretrained backbone, new head),
    as a checkpoint tools/test.py can evaluate."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ..datasets import FASHION_DETECTION_METAINFO
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(Config.fromfile(osp.join(ROOT, config)).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=FASHION_DETECTION_METAINFO)), osp.join(ROOT, out))


def detect_on_photo(config: str, checkpoint: str, out_dir: str) -> tuple:
    from mmdet.apis import DetInferencer
    with open(osp.join(ROOT, DETECTION_SET, 'annotations', 'instances_val.json')) as f:
        first = json.load(f)['images'][0]['file_name']
    photo = osp.join(DETECTION_SET, 'val', first)
    inferencer = DetInferencer(model=osp.join(ROOT, config), weights=osp.join(ROOT, checkpoint),
                               device='cpu')
    result = inferencer(osp.join(ROOT, photo), out_dir=osp.join(ROOT, out_dir),
                        pred_score_thr=0.3)
    prediction = result['predictions'][0]
    kept = [(inferencer.model.dataset_meta['classes'][label], score)
            for label, score in zip(prediction['labels'], prediction['scores']) if score >= 0.3]
    return photo, osp.join(out_dir, 'vis', osp.basename(photo)), kept


def run_main_job(work: str = 'work_dirs/main') -> None:
    search_dir, pretrain_dir, det_search_dir, detect_dir = (
        osp.join(work, d) for d in ('search', 'pretrain', 'det_search', 'detect'))

    print('== 1. Cream search on Fashion-MNIST')
    run_tool('tools/search_backbone.py', SEARCH, '--work-dir', search_dir)
    arch_file = osp.join(search_dir, 'arch.json')
    with open(osp.join(ROOT, arch_file)) as f:
        arch = json.load(f)
    # The board in a cloud of 10 sampled paths (tools/analysis_tools/plot_board.py draws 30).
    pictured = plot_board_of(osp.join(ROOT, search_dir), num_paths=10)
    board_picture = osp.relpath(pictured['board'], ROOT)
    print(f'board picture: {board_picture}')
    uniform = statistics.mean(p['held_out_top1'] for p in pictured['data']['cloud'])
    chosen_top1 = pictured['data']['chosen']['held_out_top1']

    print('\n== 2. Pretraining the chosen child on Fashion-MNIST')
    run_tool('tools/train.py', PRETRAIN, '--work-dir', pretrain_dir,
             '--cfg-options', f'model.backbone.arch={arch_file}')
    top1 = logged_metrics(pretrain_dir)['accuracy/top1']
    pretrained = last_checkpoint(pretrain_dir)

    print('\n== 3. Detection-aware search: the supernet of step 1 inside RetinaNet')
    if not osp.isfile(osp.join(ROOT, DETECTION_SET, 'annotations', 'instances_val.json')):
        run_tool('tools/misc/make_detection_set.py', DETECTION_SET, '--seed', '0')
    run_tool('tools/search_backbone.py', DET_SEARCH, '--work-dir', det_search_dir,
             '--cfg-options',
             f'model.detector.backbone.init_cfg.checkpoint={last_checkpoint(search_dir)}')
    det_arch_file = osp.join(det_search_dir, 'arch.json')
    with open(osp.join(ROOT, det_arch_file)) as f:
        det_arch = json.load(f)

    print('\n== 4. RetinaNet with the searched backbone on the generated detection set')
    run_tool('tools/train.py', DETECT, '--work-dir', detect_dir, '--cfg-options',
             f'model.backbone.init_cfg.checkpoint={pretrained}')
    # Absent when no box scores 0.05 (CocoMetric then reports nothing).
    trained_map = logged_metrics(detect_dir).get('coco/bbox_mAP', float('nan'))
    detect_config = osp.join(detect_dir, osp.basename(DETECT))  # as the run resolved it
    checkpoint = last_checkpoint(detect_dir)
    untrained = osp.join(work, 'detector_untrained.pth')
    save_untrained_detector(detect_config, untrained)
    # At mmdet's score threshold (0.05) the untrained head keeps no box and
    # COCO evaluation has nothing to score; both are compared at 0.
    compared = {}
    for name, path in (('untrained', untrained), ('trained', checkpoint)):
        test_dir = osp.join(work, f'test_{name}')
        run_tool('tools/test.py', detect_config, path, '--work-dir', test_dir,
                 '--cfg-options', 'model.test_cfg.score_thr=0')
        compared[name] = logged_metrics(test_dir)['coco/bbox_mAP']

    print('\n== 5. Detections on a real photo')
    photo, picture, kept = detect_on_photo(detect_config, checkpoint, osp.join(work, 'demo'))

    print('\n== Summary')
    print(f'searched arch     {Arch.from_dict(arch)} ({arch_file})')
    print(f'its cost          {arch["flops"] / 1e6:.2f} MFLOPs, {arch["params"] / 1e6:.3f} M '
          'parameters (10 classes)')
    with open(osp.join(ROOT, search_dir, 'board.json')) as f:
        board = board_summary(json.load(f)['entries'])
    print(f'the board         {board}; constraint {arch.get("constraint", "none")}; '
          f'picture {board_picture}')
    print(f'held-out top-1    the chosen path {chosen_top1:.2f} % against {uniform:.2f} %, the '
          'mean of 10 paths drawn uniformly within the constraint (supernet weights)')
    same = ' (the same arch)' if det_arch['stages'] == arch['stages'] else ''
    print(f'detection-aware   {Arch.from_dict(det_arch)}, {det_arch["flops"] / 1e6:.2f} MFLOPs, '
          f'held-out bbox mAP {det_arch["bbox_mAP"]:.3f} with supernet weights{same} '
          f'({det_arch_file})')
    with open(osp.join(ROOT, det_search_dir, 'board.json')) as f:
        det_board = det_board_summary(json.load(f)['entries'])
    print(f'its board         {det_board}')
    print(f'classification    top-1 {top1:.2f} % on the 10,000 Fashion-MNIST test images '
          f'(EMA weights; {pretrained})')
    print(f'detection         bbox mAP {trained_map:.3f} at score 0.05; at score 0: '
          f'{compared["trained"]:.3f} trained vs {compared["untrained"]:.3f} untrained '
          f'({checkpoint})')
    print(f'photo             {photo}: {len(kept)} detections >= 0.3 '
          f'({", ".join(f"{c} {s:.2f}" for c, s in kept[:5])}); picture {picture}')
