"""What a Cream search step costs against SPOS's, and against the least a
step with a teacher and a board can cost
(``tools/analysis_tools/benchmark_search_step.py``): Cream's extra work
must pay for itself in the archs it finds."""
from __future__ import annotations

from functools import partial
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict

from ..latency import timed_in_turns
from ..search import CreamSearch


def benchmark_search_step(batch_sizes: Sequence[int] = (16, 32, 64), steps: int = 6,
                          budget: Optional[Sequence[float]] = (0, 600), sampling: str = 'even',
                          log: Callable[[str], None] = print, **kwargs) -> dict:
    """Seconds per step, by batch size: :func:`search_step_figures`'
    ``seconds``."""
    figures = search_step_figures(batch_sizes, steps, budget, sampling, log, **kwargs)
    return {batch: f['seconds'] for batch, f in figures.items()}


def search_step_figures(batch_sizes: Sequence[int] = (16, 32, 64), steps: int = 6,
                        budget: Optional[Sequence[float]] = (0, 600), sampling: str = 'even',
                        log: Callable[[str], None] = print, device='cpu',
                        amp: Optional[str] = None, channels_last: bool = False,
                        **supernet) -> dict:
    """Images per second of a Cream step after the warm-up with a full
    board, of a SPOS step (CE only), and of the floor (a SPOS step plus one
    forward of the batch and one of the board's images, without gradient),
    at each of ``batch_sizes``: the median of ``steps`` steps taken in turns
    (:func:`timed_in_turns`), all three on the same student paths and the
    floor's teacher the entry Cream picked, so that the ratios compare work,
    not the luck of the draw. The supernet is the (``budget``) one of the
    'cream' space with 1,000 classes, or as ``supernet`` says.

    It runs on ``device``; ``amp`` ('float16' or 'bfloat16') takes mmengine's
    AmpOptimWrapper (a GPU's only) for all three, and ``channels_last`` the
    supernet's weights and the batch in that layout. ``log`` gets the report
    line by line; returns, by batch size, ``seconds`` per step and, on CUDA,
    ``peak_bytes`` (``torch.cuda.max_memory_allocated`` during each kind's
    steps; None elsewhere)."""
    torch.manual_seed(0)
    model = CreamSearch(supernet=dict(dict(space='cream', budget=budget, num_classes=1000),
                                      **supernet),
                        sampling=sampling, warmup_iters=0, update_iter=10 ** 9).train()
    net, res, classes = model.supernet, model.supernet.resolution, model.supernet.num_classes
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
    model.to(device)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net.to(memory_format=layout)  # (the board's 5-d images have no channels_last)
    wrapper = partial(AmpOptimWrapper, dtype=amp) if amp else OptimWrapper
    wrappers = OptimWrapperDict(
        supernet=wrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)),
        meta=wrapper(optimizer=torch.optim.SGD(model.meta.parameters(), lr=1e-4)))
    cuda = torch.device(device).type == 'cuda'
    where = ''.join([f', on {device}' if device != 'cpu' else '',
                     f', {amp} AMP' if amp else '', ', channels_last' if channels_last else ''])
    log(f'Cream sampling {sampling}; supernet depths {net.depths} @{res}, '
        f'board {len(model.board)} x {model.slice_size} images, '
        f'{torch.get_num_threads()} threads{where}')
    result = {}
    for batch in batch_sizes:
        x = torch.randn(batch, 3, res, res).to(device, memory_format=layout)
        y = torch.randint(classes, (batch,)).to(device)
        data = dict(inputs=x, data_samples=y.tolist())

        def spos():
            path = model.sample_path(int(model.iteration))
            with wrappers['supernet'].optim_context(net):
                logits = net(x, path).float()
            wrappers['supernet'].update_params(F.cross_entropy(logits, y))
            return path

        def floor():
            path = spos()
            n = len(model.board)
            with torch.no_grad(), wrappers['supernet'].optim_context(net):
                student = F.softmax(net(model.board.inputs[:n].flatten(0, 1), path).float(),
                                    dim=1)
                model.meta(student.view(n, model.slice_size, -1) - model.board.soft_outputs[:n])
                net(x, picked['teacher'])

        def cream():
            model.train_step(data, wrappers)

        peaks = {}
        runs = {name: _on_device(run, device, peaks, name) if cuda else run
                for name, run in dict(Cream=cream, SPOS=spos, floor=floor).items()}
        # each kind on the same student path: model.iteration rewound to the round
        times = timed_in_turns(runs, steps, before=model.iteration.fill_)
        result[batch] = dict(seconds=times, peak_bytes=peaks if cuda else None)
        line = ', '.join(f'{n} {batch / t:.1f} img/s' for n, t in times.items())
        memory = '; peak ' + ', '.join(f'{n} {b / 2 ** 30:.2f} GiB' for n, b in peaks.items()) \
            if cuda else ''
        log(f'batch {batch}: {line}; Cream/SPOS {times["Cream"] / times["SPOS"]:.2f}x, '
            f'Cream/floor {times["Cream"] / times["floor"]:.2f}x{memory}')
    return result


def _on_device(run: Callable[[], object], device, peaks: dict, name: str) -> Callable:
    """``run`` timed whole on a GPU (its kernels run asynchronously: it ends
    when the device is done), its peak memory the largest of its calls."""
    def synchronized():
        torch.cuda.reset_peak_memory_stats(device)
        run()
        torch.cuda.synchronize(device)
        peaks[name] = max(peaks.get(name, 0), torch.cuda.max_memory_allocated(device))
    return synchronized
