"""Running the project's tools on the embedded configs, as a user would type
them (each in a subprocess from the repository root), and reading back what
mmengine wrote to their work dirs; shared by the main job and the
benchmarks, which import this rather than each other.

With a log file, a tool's whole output (stdout and stderr) goes there and
the terminal gets a few lines a step, for a person to read::

    $ python tools/train.py configs/cream/cream_fashion-mnist.py --work-dir work_dirs/main/pretrain
      log: work_dirs/main/pretrain/main_job.log
      still running after 1 min 0 s, at Epoch(train) [1][150/235]
      done in 3 min 12 s: top-1 88.41 % (work_dirs/main/pretrain/epoch_3.pth)

and a failing step prints its log's last lines and the whole log's path
before :class:`StepFailed` ends the job.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
import traceback
from collections import deque
from typing import Callable, Optional

# The repository: the tools, configs/ and work_dirs/ are relative to it.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEARCH = 'configs/cream/cream-search_fashion-mnist.py'
PRETRAIN = 'configs/cream/cream_fashion-mnist.py'
DETECT = 'configs/retinanet/retinanet_cream-searched_fpn_fashion-det.py'
DET_SEARCH = 'configs/cream_det_search/retinanet_cream-supernet_fpn_fashion-det.py'
DETECTION_SET = 'data/fashion-det'

LOG_NAME = 'main_job.log'  # a step's log, in its work dir
PROGRESS_EVERY = 60.  # seconds between two "still running" lines
TAIL_LINES = 40  # of a failed step's log, on the terminal

# Where mmengine's loggers are in a run: `Iter(train) [  100/1000]`,
# `Epoch(train)  [1][ 50/235]`, `Epoch(val) [1][10/50]`, `Epoch(test) [10/50]`.
POSITION = re.compile(r'(?:Iter|Epoch)\((?:train|val|test)\)\s*(?:\[\s*\d+\]\s*)?\[\s*\d+/\d+\]')


class StepFailed(RuntimeError):
    pass


def shown(path: str) -> str:
    """``path`` as the terminal shows it: relative to the repository when in it."""
    path = osp.join(ROOT, path)
    relative = osp.relpath(path, ROOT)
    return path if relative.startswith(os.pardir) else relative


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f'{hours} h {minutes} min'
    return f'{minutes} min {seconds} s' if minutes else f'{seconds} s'


class _Position:
    """The latest iteration a growing log names, read a piece at a time."""

    def __init__(self, path: str):
        self.path, self.offset, self.carry, self.latest = path, 0, '', None

    def __call__(self) -> Optional[str]:
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                new = f.read()
        except OSError:
            return self.latest
        self.offset += len(new)
        text = self.carry + new.decode('utf-8', 'replace')
        found = POSITION.findall(text)
        if found:
            self.latest = re.sub(r'\s+', '', found[-1]).replace(')[', ') [')
        self.carry = text[-200:]  # a position cut in two by the last read
        return self.latest


def print_tail(log: str, lines: int = TAIL_LINES) -> None:
    with open(log, errors='replace') as f:
        tail = deque(f, maxlen=lines)
    print(f'  the last {len(tail)} lines of its log:' if len(tail) > 1 else '  its log:')
    for line in tail:
        print('  | ' + line.rstrip('\n').split('\r')[-1])
    print(f'  the whole log: {shown(log)}', flush=True)


def _done(start: float, outcome: Optional[Callable[[], str]], log: str, failure: str) -> None:
    """The outcome line of a step that ran to its end; reading what it wrote
    failing is the step failing."""
    try:
        text = outcome() if outcome else None
    except Exception as err:
        print(f'  {failure}: what it wrote does not read: {type(err).__name__}: {err}')
        print_tail(log)
        raise StepFailed(f'{failure}: {err} (log: {shown(log)})') from err
    took = elapsed(time.monotonic() - start)
    print(f'  done in {took}: {text}' if text else f'  done in {took}', flush=True)


def run_tool(*command: str, log: Optional[str] = None,
             outcome: Optional[Callable[[], str]] = None,
             progress_every: float = PROGRESS_EVERY) -> None:
    """Run one tool as a user would: ``python *command`` from the repository.

    Without ``log``, its output is echoed to the terminal. With ``log`` (a
    path, relative to the repository or absolute), its whole output goes
    there, and the terminal gets the command, where the log is, a line every
    ``progress_every`` seconds while it runs (with the latest iteration its
    log names), and ``done in ...`` with ``outcome()``; a failure prints the
    log's last lines and path. Either way a failure raises StepFailed."""
    line = ' '.join(command)
    print('\n$ python ' + line, flush=True)
    if log is None:
        process = subprocess.run([sys.executable, *command], cwd=ROOT)
        if process.returncode:
            raise StepFailed(f'step failed (exit code {process.returncode}): {line}')
        return
    log = osp.join(ROOT, log)
    os.makedirs(osp.dirname(log), exist_ok=True)
    print(f'  log: {shown(log)}', flush=True)
    start = time.monotonic()
    position = _Position(log)
    # Unbuffered, so that the log follows the run (and the position with it).
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with open(log, 'w') as out:
        process = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    process.wait(timeout=progress_every)
                    break
                except subprocess.TimeoutExpired:
                    at = position()
                    print(f'  still running after {elapsed(time.monotonic() - start)}'
                          + (f', at {at}' if at else ''), flush=True)
        finally:
            if process.poll() is None:  # interrupted: the tool goes with the job
                process.terminate()
                process.wait()
    if process.returncode:
        failure = f'step failed (exit code {process.returncode})'
        print(f'  {failure} after {elapsed(time.monotonic() - start)}')
        print_tail(log)
        raise StepFailed(f'{failure}: {line} (log: {shown(log)})')
    _done(start, outcome, log, 'step failed')


def run_here(what: str, log: str, function: Callable, *args,
             outcome: Optional[Callable[[object], str]] = None, mode: str = 'a', **kwargs):
    """``function(*args, **kwargs)`` in this process, its output (any print,
    logger or progress bar, at the file descriptors) going to ``log``
    (appended to, by default: the log of the tool run it follows); prints
    ``what``, the log, and ``done in ...`` with ``outcome(result)``, or on
    an exception the log's last lines, then raises StepFailed. Returns the
    function's result."""
    print(f'\n# in the job: {what}', flush=True)
    log = osp.join(ROOT, log)
    os.makedirs(osp.dirname(log), exist_ok=True)
    print(f'  log: {shown(log)}', flush=True)
    start = time.monotonic()
    streams = sys.stdout, sys.stderr
    for stream in streams:
        stream.flush()
    saved = os.dup(1), os.dup(2)
    error = None
    with open(log, mode) as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        # Python's own streams write to the descriptors too (pytest's, say, do not).
        sys.stdout, sys.stderr = (open(fd, 'w', buffering=1, encoding='utf-8', errors='replace',
                                       closefd=False) for fd in (1, 2))
        try:
            result = function(*args, **kwargs)
        except Exception as err:
            error = err
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = streams
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
    if error is not None:
        print(f'  failed after {elapsed(time.monotonic() - start)}: '
              f'{type(error).__name__}: {error}')
        print_tail(log)
        raise StepFailed(f'{what} failed: {error} (log: {shown(log)})') from error
    _done(start, outcome and (lambda: outcome(result)), log, f'{what} failed')
    return result


def last_line(log: str) -> str:
    """The last line a tool wrote that is not blank: the outcome some print."""
    with open(osp.join(ROOT, log), errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else ''


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
