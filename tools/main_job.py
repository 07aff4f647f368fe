"""The README's main job: the whole pipeline on the embedded defaults, on
the CPU, each step the command a user would type (printed as it runs):

1. the Cream search on Fashion-MNIST (tools/search_backbone.py);
2. pretraining the chosen child on Fashion-MNIST (tools/train.py), and its
   backbone exported for detection (tools/export_backbone.py);
3. RetinaNet with that backbone on the generated detection set
   (tools/make_detection_set.py, tools/train.py), evaluated with COCO bbox
   mAP before and after training (tools/test.py);
4. detections on a real photo of the set's validation split, saved as a
   picture (mmdet's DetInferencer).

    python tools/main_job.py [--work-dir work_dirs/main]

It ends with a summary: the chosen arch, its FLOPs, its accuracy, the
detector's mAP and where each file is.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH = 'configs/cream/cream-search_fashion-mnist.py'
PRETRAIN = 'configs/cream/cream_fashion-mnist.py'
DETECT = 'configs/retinanet/retinanet_cream-searched_fpn_fashion-det.py'
DETECTION_SET = 'data/fashion-det'


def run(*command: str) -> str:
    """Run one tool as a user would, echoing its output; return the output."""
    print('\n$ python ' + ' '.join(command), flush=True)
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if not re.search(r'pkg_resources|_bootstrap\._exec', line):
            print(line, end='', flush=True)
    if process.wait():
        sys.exit(f'main job: step failed (exit code {process.returncode}): {" ".join(command)}')
    return ''.join(lines)


def last_metric(output: str, key: str, required: bool = True) -> float:
    found = re.findall(rf'{re.escape(key)}: (-?[\d.]+)', output)
    if not found and required:
        sys.exit(f'main job: no {key} in the output above')
    return float(found[-1]) if found else float('nan')


def dumped_config(work_dir: str, config: str) -> str:
    """The config as the run resolved it (mmengine writes it to the work dir)."""
    return osp.join(work_dir, osp.basename(config))


def save_untrained_detector(config: str, out: str) -> None:
    """The detector before detection training (pretrained backbone, new head),
    as a checkpoint tools/test.py can evaluate."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import cream_det  # noqa: F401
    from cream_det.detection_data import FASHION_DETECTION_METAINFO
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=FASHION_DETECTION_METAINFO)), out)


def detect_on_photo(config: str, checkpoint: str, out_dir: str) -> tuple:
    from mmdet.apis import DetInferencer
    annotations = json.load(open(osp.join(ROOT, DETECTION_SET, 'annotations',
                                          'instances_val.json')))
    photo = osp.join(ROOT, DETECTION_SET, 'val', annotations['images'][0]['file_name'])
    inferencer = DetInferencer(model=config, weights=checkpoint, device='cpu')
    result = inferencer(photo, out_dir=out_dir, pred_score_thr=0.3)
    prediction = result['predictions'][0]
    kept = [(inferencer.model.dataset_meta['classes'][label], score)
            for label, score in zip(prediction['labels'], prediction['scores']) if score >= 0.3]
    return photo, osp.join(out_dir, 'vis', osp.basename(photo)), kept


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/main')
    args = parser.parse_args()
    work = args.work_dir
    search_dir, pretrain_dir, detect_dir = (osp.join(work, d)
                                            for d in ('search', 'pretrain', 'detect'))

    print('== 1. Cream search on Fashion-MNIST')
    run('tools/search_backbone.py', SEARCH, '--work-dir', search_dir)
    arch_file = osp.join(search_dir, 'arch.json')
    arch = json.load(open(osp.join(ROOT, arch_file)))

    print('\n== 2. Pretraining the chosen child on Fashion-MNIST')
    output = run('tools/train.py', PRETRAIN, '--work-dir', pretrain_dir,
                 '--cfg-options', f'model.backbone.arch={arch_file}')
    top1 = last_metric(output, 'accuracy/top1')
    backbone = osp.join(work, 'backbone.pth')
    run('tools/export_backbone.py', dumped_config(pretrain_dir, PRETRAIN),
        osp.join(pretrain_dir, 'epoch_1.pth'), backbone)

    print('\n== 3. RetinaNet with the searched backbone on the generated detection set')
    if not osp.isfile(osp.join(ROOT, DETECTION_SET, 'annotations', 'instances_val.json')):
        run('tools/make_detection_set.py', DETECTION_SET, '--seed', '0')
    output = run('tools/train.py', DETECT, '--work-dir', detect_dir, '--cfg-options',
                 f'model.backbone.arch={arch_file}',
                 f'model.backbone.init_cfg.checkpoint={backbone}')
    # nan when no box scores 0.05 (CocoMetric then reports nothing).
    trained_map = last_metric(output, 'coco/bbox_mAP', required=False)
    detect_config = dumped_config(detect_dir, DETECT)
    from mmengine.config import Config
    epochs = Config.fromfile(osp.join(ROOT, detect_config)).train_cfg.max_epochs
    checkpoint = osp.join(detect_dir, f'epoch_{epochs}.pth')
    untrained = osp.join(work, 'detector_untrained.pth')
    os.chdir(ROOT)
    save_untrained_detector(detect_config, untrained)
    # At mmdet's score threshold (0.05) the untrained head keeps no box and
    # COCO evaluation has nothing to score; both are compared at 0.
    compared = {}
    for name, path in (('untrained', untrained), ('trained', checkpoint)):
        output = run('tools/test.py', detect_config, path, '--work-dir',
                     osp.join(work, f'test_{name}'), '--cfg-options', 'model.test_cfg.score_thr=0')
        compared[name] = last_metric(output, 'coco/bbox_mAP')

    print('\n== 4. Detections on a real photo')
    photo, picture, kept = detect_on_photo(detect_config, checkpoint, osp.join(work, 'demo'))

    print('\n== Summary')
    stages = ' / '.join(' '.join(ops) for ops in arch['stages'])
    print(f'searched arch     {stages} @{arch["resolution"]} ({arch_file})')
    flops, params = arch.get('flops'), arch.get('params')
    print(f'its cost          {flops / 1e6:.2f} MFLOPs, {params / 1e6:.3f} M parameters '
          '(10 classes)')
    print(f'classification    top-1 {top1:.2f} % on the 10,000 Fashion-MNIST test images '
          f'(EMA weights; {pretrain_dir}/epoch_1.pth)')
    print(f'detection         bbox mAP {trained_map:.3f} at score 0.05; at score 0: '
          f'{compared["trained"]:.3f} trained vs {compared["untrained"]:.3f} untrained '
          f'({checkpoint})')
    print(f'backbone file     {backbone}')
    print(f'photo             {photo}: {len(kept)} detections >= 0.3 '
          f'({", ".join(f"{c} {s:.2f}" for c, s in kept[:5])}); picture {picture}')


if __name__ == '__main__':
    main()
