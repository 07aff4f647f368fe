"""Images per second of one search step, side by side in one run:

1. SPOS: a uniformly sampled path, CE only;
2. Cream: ``CreamSearch.train_step`` after the warm-up, with a full board;
3. the floor: a SPOS step, plus one forward of the batch without gradient
   (the teacher), plus one plain forward of the board's pool_size x slice
   images without gradient (the teacher selection, with the statistics of
   all the board's images shared: Cream's ghost batches normalise each
   entry's alone, and what that costs shows in Cream/floor).

    python tools/analysis_tools/benchmark_search_step.py [--batch-sizes 16 32 64] [--steps 6]

The three steps train the same sequence of student paths, and the floor's
teacher is the entry Cream picked (Cream runs first in each round), so that
the ratios compare work, not the luck of the draw: one path may cost several
times another. A Cream step
cannot cost less than the floor; the ratios are what to read.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict

from cream_det.search import CreamSearch


def timed(model, steps, kinds):
    """Median seconds per step of each kind. Kinds take turns, each on the
    same student path (``model.iteration`` is rewound), so that a slow spell
    of a shared machine or a dear path falls on all of them alike."""
    times = {name: [] for name in kinds}
    for i in range(steps + 1):  # the first round warms up
        for name, fn in kinds.items():
            model.iteration.fill_(i)
            start = time.perf_counter()
            fn()
            if i:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[16, 32, 64])
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--budget', type=float, nargs=2, default=(0, 600))
    parser.add_argument('--sampling', default='even',
                        help="Cream's path sampling; 'even' draws paths as SPOS does, "
                        "'pre_prob' favours the dearer e6 ops")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CreamSearch(supernet=dict(space='cream', budget=args.budget, num_classes=1000),
                        sampling=args.sampling, warmup_iters=0, update_iter=10 ** 9).train()
    net, res = model.supernet, model.supernet.resolution
    wrappers = OptimWrapperDict(
        supernet=OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)),
        meta=OptimWrapper(torch.optim.SGD(model.meta.parameters(), lr=1e-4)))
    picked = {}
    select_teacher = model.select_teacher

    def recording_select_teacher(path):
        weight, picked['teacher'] = select_teacher(path)
        return weight, picked['teacher']
    model.select_teacher = recording_select_teacher
    g = torch.Generator().manual_seed(0)
    for i in range(model.board.pool_size):  # a full board
        path = model.sample_path(i)
        model.board.insert(float(i), model.cost.flops(path), model.cost.params(path), path,
                           torch.randn(model.slice_size, 3, res, res, generator=g),
                           torch.randn(model.slice_size, 1000, generator=g), i)
    print(f'Cream sampling {args.sampling}; supernet depths {net.depths} @{res}, '
          f'board {len(model.board)} x '
          f'{model.slice_size} images, {torch.get_num_threads()} threads')
    for batch in args.batch_sizes:
        x = torch.randn(batch, 3, res, res)
        y = torch.randint(1000, (batch,))
        data = dict(inputs=x, data_samples=y.tolist())

        def spos():
            path = model.sample_path(int(model.iteration))
            wrappers['supernet'].update_params(F.cross_entropy(net(x, path), y))
            return path

        def floor():
            path = spos()
            n = len(model.board)
            with torch.no_grad():
                student = F.softmax(net(model.board.inputs[:n].flatten(0, 1), path), dim=1)
                model.meta(student.view(n, model.slice_size, -1) - model.board.soft_outputs[:n])
                net(x, picked['teacher'])

        def cream():
            model.train_step(data, wrappers)

        times = timed(model, args.steps, dict(Cream=cream, SPOS=spos, floor=floor))
        line = ', '.join(f'{n} {batch / t:.1f} img/s' for n, t in times.items())
        print(f'batch {batch}: {line}; Cream/SPOS {times["Cream"] / times["SPOS"]:.2f}x, '
              f'Cream/floor {times["Cream"] / times["floor"]:.2f}x')


if __name__ == '__main__':
    main()
