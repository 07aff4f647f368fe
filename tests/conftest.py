"""The suite's shared pieces. The tests lie in folders that mirror the
package (core/, models/, search/, ...); the helper modules (search_utils,
official_format, latency_utils) lie here, in tests/, which is put on
sys.path so that a test in any folder imports them as top-level modules.
Test modules have unique basenames across the folders (pytest's default
import mode, no __init__.py files).

A test that spawns a tool or an interpreter (run_tool, subprocess) is
marked slow: each spawn imports torch and the OpenMMLab stack, seconds on
its own; the default run skips them, --run-slow (CI) runs them."""
import os
import os.path as osp
import subprocess
import sys

import pytest

TESTS = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(TESTS)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from cream_det import compat  # noqa: E402


def pytest_addoption(parser):
    parser.addoption('--run-slow', action='store_true',
                     help='also run the tests marked slow (end-to-end runs, minutes in all)')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: an end-to-end run; skipped unless --run-slow')
    # The tests build runners and load mmengine checkpoints as the tools do,
    # and the tools turn the stack's version workarounds on.
    compat.apply()


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool(script, *args, check=True, timeout=600, env=None)``: runs
    ``python <repo>/<script> args`` (``script`` relative to the repo root,
    e.g. 'tools/select_arch.py', or absolute) with the current interpreter, in the repo
    root, its output captured as text, and returns the
    ``subprocess.CompletedProcess``. ``env``: variables set on top of this
    process's environment. With ``check`` a non-zero exit fails the test
    with the command and the last 3000 characters of its output."""
    def run(script: str, *args: str, check: bool = True, timeout: float = 600,
            env: dict | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, osp.join(ROOT, script), *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                cwd=ROOT, env=None if env is None else {**os.environ, **env})
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr)[-3000:]
            pytest.fail(f'{subprocess.list2cmdline(command)} exited with {result.returncode}:\n'
                        f'{output}', pytrace=False)
        return result
    return run


@pytest.fixture(scope='session')
def detection_set(tmp_path_factory):
    """The generated Fashion-MNIST-on-photos detection set
    (cream_det.datasets.make_detection_set), small, made once a session: its
    root as a str. 20 training images (the detection-search tests train on
    the first 16 and hold out the next 4; the detection tests train on all)
    and 8 validation images."""
    from cream_det.datasets import make_detection_set
    root = str(tmp_path_factory.mktemp('fashion-det'))
    make_detection_set(root, seed=0, num_train=20, num_val=8)
    return root


@pytest.fixture(scope='session')
def searched(tmp_path_factory):
    """A tiny search run to its end (search_utils.tiny_search_cfg): its work
    dir and config, shared by the tests that read a finished search."""
    from mmengine.runner import Runner

    from search_utils import tiny_search_cfg
    tmp_path = tmp_path_factory.mktemp('search')
    cfg = tiny_search_cfg(tmp_path)
    Runner.from_cfg(cfg).train()
    return tmp_path, cfg


def pytest_collection_modifyitems(config, items):
    if config.getoption('--run-slow'):
        return
    skip = pytest.mark.skip(reason='slow: run with --run-slow')
    for item in items:
        if 'slow' in item.keywords:
            item.add_marker(skip)
