"""Does the search teach? Held-out accuracy of paths from the final board
against paths sampled uniformly, all with weights inherited from the
supernet and BatchNorm recalibrated on a few training batches.

    python tools/analyze_search.py CONFIG WORK_DIR/iter_1000.pth [--paths 5]
"""
import argparse
import statistics

import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import Runner, load_checkpoint

import cream_det  # noqa: F401
from cream_det.search.hooks import calibration_loader, recalibrated_accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--paths', type=int, default=5, help='paths of each kind')
    parser.add_argument('--calib-batches', type=int, default=10)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    calib = calibration_loader(cfg.train_dataloader)
    held_out = Runner.build_dataloader(cfg.held_out_dataloader)
    board = [model.split_path(p.tolist()) for p in model.board.paths[:len(model.board)]]
    generator = torch.Generator().manual_seed(12345)
    uniform = [model.split_path(torch.randint(model.num_ops, (sum(model.supernet.depths),),
                                              generator=generator).tolist())
               for _ in range(args.paths)]
    results = {}
    for name, paths in (('board', board[:args.paths]), ('uniform', uniform)):
        accs = [recalibrated_accuracy(model.supernet.export_child(p), calib, held_out,
                                      model.data_preprocessor, args.calib_batches)
                for p in paths]
        results[name] = accs
        print(f'{name:>8} paths: held-out top-1 {statistics.mean(accs):.2f} % '
              f'(min {min(accs):.2f}, max {max(accs):.2f}, n={len(accs)})')
    gap = statistics.mean(results['board']) - statistics.mean(results['uniform'])
    print(f'board - uniform: {gap:+.2f} points')


if __name__ == '__main__':
    main()
