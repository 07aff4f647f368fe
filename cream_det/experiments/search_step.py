"""What a Cream search step costs against SPOS's, and against the least a
step with a teacher and a board can cost
(``tools/analysis_tools/benchmark_search_step.py``): Cream's extra work
must pay for itself in the archs it finds."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict

from ..latency import timed_in_turns
from ..search import CreamSearch


def benchmark_search_step(batch_sizes: Sequence[int] = (16, 32, 64), steps: int = 6,
                          budget: Optional[Sequence[float]] = (0, 600), sampling: str = 'even',
                          log: Callable[[str], None] = print, **supernet) -> dict:
    """Images per second of a Cream step after the warm-up with a full
    board, of a SPOS step (CE only), and of the floor (a SPOS step plus one
    forward of the batch and one of the board's images, without gradient),
    at each of ``batch_sizes``: the median of ``steps`` steps taken in turns
    (:func:`timed_in_turns`), all three on the same student paths and the
    floor's teacher the entry Cream picked, so that the ratios compare work,
    not the luck of the draw. The supernet is the (``budget``) one of the
    'cream' space with 1,000 classes, or as ``supernet`` says. ``log`` gets
    the report line by line; returns seconds per step, by batch size."""
    torch.manual_seed(0)
    model = CreamSearch(supernet=dict(dict(space='cream', budget=budget, num_classes=1000),
                                      **supernet),
                        sampling=sampling, warmup_iters=0, update_iter=10 ** 9).train()
    net, res, classes = model.supernet, model.supernet.resolution, model.supernet.num_classes
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
                           torch.randn(model.slice_size, classes, generator=g), i)
    log(f'Cream sampling {sampling}; supernet depths {net.depths} @{res}, '
        f'board {len(model.board)} x {model.slice_size} images, '
        f'{torch.get_num_threads()} threads')
    result = {}
    for batch in batch_sizes:
        x = torch.randn(batch, 3, res, res)
        y = torch.randint(classes, (batch,))
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

        # each kind on the same student path: model.iteration rewound to the round
        times = timed_in_turns(dict(Cream=cream, SPOS=spos, floor=floor), steps,
                               before=model.iteration.fill_)
        result[batch] = times
        line = ', '.join(f'{n} {batch / t:.1f} img/s' for n, t in times.items())
        log(f'batch {batch}: {line}; Cream/SPOS {times["Cream"] / times["SPOS"]:.2f}x, '
            f'Cream/floor {times["Cream"] / times["floor"]:.2f}x')
    return result
