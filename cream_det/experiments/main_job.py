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
   picture (mmdet's DetInferencer);
6. the trained detector exported to ONNX (tools/deployment/pytorch2onnx.py),
   its detections checked against PyTorch's on the photos (the photo among
   them), and its latency on the photo in onnxruntime and OpenVINO beside
   PyTorch's, one thread, in turns.

Each tool's whole output (and that of the job's own work between them) goes
to ``main_job.log`` in the step's work dir; the terminal gets, a step, the
command, where its log is, a line a minute while it runs and its outcome in
one line, or the log's last lines when it fails (see :mod:`.runs`).

Figures are read from what mmengine writes to each work dir (the run's
``vis_data/scalars.json``, a test run's ``<timestamp>.json``) and
checkpoints from its ``last_checkpoint`` file.
"""
from __future__ import annotations

import json
import os.path as osp
import statistics

from ..arch import Arch
from ..visualization.search_plots import plot_board_of
from .runs import (DET_SEARCH, DETECT, DETECTION_SET, LOG_NAME, PRETRAIN, ROOT, SEARCH,
                   StepFailed, last_checkpoint, last_line, logged_metrics, run_here, run_tool,
                   shown)

__all__ = ['run_main_job', 'StepFailed']

DEPLOY_ROUNDS = 50  # of the deployed detector's latency on the photo


def log_in(work_dir: str) -> str:
    """A step's log: the whole output of its tool, in the tool's work dir."""
    return osp.join(work_dir, LOG_NAME)


def searched_arch(arch_file: str, estimate: str = '') -> str:
    """A search's outcome: the arch it chose, its cost (and, named
    ``estimate``, the held-out score it was chosen by)."""
    with open(osp.join(ROOT, arch_file)) as f:
        arch = json.load(f)
    estimate = f', held-out {estimate} {arch["held_out"]:.3f}' if estimate else ''
    return f'arch {Arch.from_dict(arch)}, {arch["flops"] / 1e6:.2f} MFLOPs{estimate} ({arch_file})'


def spread(values, fmt: str = '.2f') -> str:
    """``min-max`` of ``values``, as the summary prints a board's spread."""
    values = list(values)
    return f'{min(values):{fmt}}-{max(values):{fmt}}'


def board_pictured(pictured: dict) -> str:
    """The board picture's outcome: the chosen path against the cloud."""
    cloud = pictured['data']['cloud']
    return (f'held-out top-1 {pictured["data"]["chosen"]["held_out"]:.2f} % for the chosen '
            f'path, {statistics.mean(p["held_out"] for p in cloud):.2f} % the mean of '
            f'{len(cloud)}; picture {shown(pictured["board"])}')


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


def deployed_latency(config: str, checkpoint: str, onnx_file: str, photo: str,
                     rounds: int = DEPLOY_ROUNDS) -> dict:
    """Milliseconds (median, min and max over ``rounds`` in turns) of the
    detector on ``photo``, preprocessed as the file's metadata says, on one
    thread: mmdet's ``predict`` in PyTorch eager, and ``onnx_file`` in each
    runtime."""
    from functools import partial

    import torch
    from mmengine.config import Config

    from ..deployment.benchmark import eager_predict
    from ..deployment.export import INPUT_NAME, read_metadata
    from ..deployment.loading import load_for_export
    from ..deployment.onnx_detector import DetectorInputs
    from ..deployment.runtimes import BACKENDS, open_session
    from ..latency import rounds_in_turns
    meta = read_metadata(osp.join(ROOT, onnx_file))
    model = load_for_export(Config.fromfile(osp.join(ROOT, config)), osp.join(ROOT, checkpoint))
    inputs = DetectorInputs(meta['test_pipeline'], meta['data_preprocessor'],
                            meta['input_shape'][2:])
    loaded = inputs.load(osp.join(ROOT, photo))
    x = inputs.batch([loaded['inputs']], [loaded['data_samples']])
    runs = {'PyTorch': partial(eager_predict, model, x)}
    for backend in BACKENDS:
        session = open_session(osp.join(ROOT, onnx_file), backend, threads=1)
        runs[backend] = partial(session, {INPUT_NAME: x.numpy()})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            times = rounds_in_turns(runs, rounds)
    finally:
        torch.set_num_threads(threads)
    return {name: dict(ms=statistics.median(t) * 1e3, min_ms=min(t) * 1e3, max_ms=max(t) * 1e3)
            for name, t in times.items()}


def equality_line(log: str) -> str:
    """The line of pytorch2onnx.py's output with the equality figures."""
    with open(osp.join(ROOT, log), errors='replace') as f:
        from ..deployment.equality import EQUALITY_PREFIX
        return next(line.strip() for line in f if line.startswith(EQUALITY_PREFIX))


def latencies(figures: dict) -> str:
    return ', '.join(f'{name} {f["ms"]:.1f} ms [{f["min_ms"]:.1f}-{f["max_ms"]:.1f}]'
                     for name, f in figures.items())


def run_main_job(work: str = 'work_dirs/main') -> None:
    search_dir, pretrain_dir, det_search_dir, detect_dir = (
        osp.join(work, d) for d in ('search', 'pretrain', 'det_search', 'detect'))

    print('== 1. Cream search on Fashion-MNIST')
    arch_file = osp.join(search_dir, 'arch.json')
    run_tool('tools/search_backbone.py', SEARCH, '--work-dir', search_dir,
             log=log_in(search_dir), outcome=lambda: searched_arch(arch_file))
    with open(osp.join(ROOT, arch_file)) as f:
        arch = json.load(f)
    # The board in a cloud of 10 sampled paths (tools/analysis_tools/plot_board.py draws 30).
    pictured = run_here(
        'the board in a cloud of 10 paths drawn within the constraint', log_in(search_dir),
        plot_board_of, osp.join(ROOT, search_dir), num_paths=10, outcome=board_pictured)
    board_picture = osp.relpath(pictured['board'], ROOT)
    uniform = statistics.mean(p['held_out'] for p in pictured['data']['cloud'])
    chosen_top1 = pictured['data']['chosen']['held_out']

    print('\n== 2. Pretraining the chosen child on Fashion-MNIST')
    run_tool('tools/train.py', PRETRAIN, '--work-dir', pretrain_dir,
             '--cfg-options', f'model.backbone.arch={arch_file}', log=log_in(pretrain_dir),
             outcome=lambda: f'top-1 {logged_metrics(pretrain_dir)["accuracy/top1"]:.2f} % '
             f'({last_checkpoint(pretrain_dir)})')
    top1 = logged_metrics(pretrain_dir)['accuracy/top1']
    pretrained = last_checkpoint(pretrain_dir)

    print('\n== 3. Detection-aware search: the supernet of step 1 inside RetinaNet')
    if not osp.isfile(osp.join(ROOT, DETECTION_SET, 'annotations', 'instances_val.json')):
        set_log = log_in(osp.join(work, 'detection_set'))
        run_tool('tools/misc/make_detection_set.py', DETECTION_SET, '--seed', '0',
                 log=set_log, outcome=lambda: last_line(set_log))
    else:
        print(f'(the detection set is there: {DETECTION_SET})')
    det_arch_file = osp.join(det_search_dir, 'arch.json')
    run_tool('tools/search_backbone.py', DET_SEARCH, '--work-dir', det_search_dir,
             '--cfg-options',
             f'model.detector.backbone.init_cfg.checkpoint={last_checkpoint(search_dir)}',
             log=log_in(det_search_dir), outcome=lambda: searched_arch(det_arch_file, 'bbox mAP'))
    with open(osp.join(ROOT, det_arch_file)) as f:
        det_arch = json.load(f)

    print('\n== 4. RetinaNet with the searched backbone on the generated detection set')
    run_tool('tools/train.py', DETECT, '--work-dir', detect_dir, '--cfg-options',
             f'model.backbone.init_cfg.checkpoint={pretrained}', log=log_in(detect_dir),
             outcome=lambda: 'bbox mAP {:.3f} at score 0.05 ({})'.format(
                 logged_metrics(detect_dir).get('coco/bbox_mAP', float('nan')),
                 last_checkpoint(detect_dir)))
    # Absent when no box scores 0.05 (CocoMetric then reports nothing).
    trained_map = logged_metrics(detect_dir).get('coco/bbox_mAP', float('nan'))
    detect_config = osp.join(detect_dir, osp.basename(DETECT))  # as the run resolved it
    checkpoint = last_checkpoint(detect_dir)
    untrained = osp.join(work, 'detector_untrained.pth')
    run_here('the detector before detection training, saved', log_in(detect_dir),
             save_untrained_detector, detect_config, untrained,
             outcome=lambda _: f'wrote {untrained}')
    # At mmdet's score threshold (0.05) the untrained head keeps no box and
    # COCO evaluation has nothing to score; both are compared at 0.
    compared = {}
    for name, path in (('untrained', untrained), ('trained', checkpoint)):
        test_dir = osp.join(work, f'test_{name}')
        run_tool('tools/test.py', detect_config, path, '--work-dir', test_dir,
                 '--cfg-options', 'model.test_cfg.score_thr=0', log=log_in(test_dir),
                 outcome=lambda: f'bbox mAP {logged_metrics(test_dir)["coco/bbox_mAP"]:.3f} at '
                 f'score 0 ({name})')
        compared[name] = logged_metrics(test_dir)['coco/bbox_mAP']

    print('\n== 5. Detections on a real photo')
    demo_dir = osp.join(work, 'demo')
    photo, picture, kept = run_here(
        'DetInferencer on the first photo of the validation split', log_in(demo_dir),
        detect_on_photo, detect_config, checkpoint, demo_dir, mode='w',
        outcome=lambda r: f'{len(r[2])} detections >= 0.3 on {r[0]}; picture {r[1]}')

    print('\n== 6. The detector deployed: ONNX, in onnxruntime and OpenVINO')
    deploy_dir = osp.join(work, 'deploy')
    onnx_file = osp.join(deploy_dir, 'retinanet.onnx')
    run_tool('tools/deployment/pytorch2onnx.py', detect_config, checkpoint, '--out', onnx_file,
             log=log_in(deploy_dir), outcome=lambda: equality_line(log_in(deploy_dir)))
    equality = equality_line(log_in(deploy_dir)).split(': ', 1)[1]
    deployed = run_here(
        f'latency on the photo, 1 thread, {DEPLOY_ROUNDS} rounds in turns', log_in(deploy_dir),
        deployed_latency, detect_config, checkpoint, onnx_file, photo,
        outcome=lambda r: latencies(r))

    print('\n== Summary')
    print(f'searched arch     {Arch.from_dict(arch)} ({arch_file})')
    print(f'its cost          {arch["flops"] / 1e6:.2f} MFLOPs, {arch["params"] / 1e6:.3f} M '
          'parameters (10 classes)')
    with open(osp.join(ROOT, search_dir, 'board.json')) as f:
        entries = json.load(f)['entries']
    board = (f'{len(entries)} paths, {spread(e["flops"] / 1e6 for e in entries)} MFLOPs, '
             f'held-out top-1 {spread(e["held_out"] for e in entries if "held_out" in e)} %')
    print(f'the board         {board}; constraint {arch.get("constraint", "none")}; '
          f'picture {board_picture}')
    print(f'held-out top-1    the chosen path {chosen_top1:.2f} % against {uniform:.2f} %, the '
          'mean of 10 paths drawn uniformly within the constraint (supernet weights)')
    same = ' (the same arch)' if det_arch['stages'] == arch['stages'] else ''
    print(f'detection-aware   {Arch.from_dict(det_arch)}, {det_arch["flops"] / 1e6:.2f} MFLOPs, '
          f'held-out bbox mAP {det_arch["held_out"]:.3f} with supernet weights{same} '
          f'({det_arch_file})')
    with open(osp.join(ROOT, det_search_dir, 'board.json')) as f:
        entries = json.load(f)['entries']
    # The board's score is minus the batch's detection loss.
    print(f'its board         {len(entries)} paths, '
          f'{spread(e["flops"] / 1e6 for e in entries)} MFLOPs, detection loss '
          f'{spread((-e["score"] for e in entries), ".3f")}, held-out bbox mAP '
          f'{spread((e["held_out"] for e in entries if "held_out" in e), ".3f")}')
    print(f'classification    top-1 {top1:.2f} % on the 10,000 Fashion-MNIST test images '
          f'(EMA weights; {pretrained})')
    print(f'detection         bbox mAP {trained_map:.3f} at score 0.05; at score 0: '
          f'{compared["trained"]:.3f} trained vs {compared["untrained"]:.3f} untrained '
          f'({checkpoint})')
    print(f'photo             {photo}: {len(kept)} detections >= 0.3 '
          f'({", ".join(f"{c} {s:.2f}" for c, s in kept[:5])}); picture {picture}')
    print(f'deployed          {onnx_file}: {equality}')
    print(f'its latency       on the photo, 1 thread, median [min-max]: {latencies(deployed)}')
