import pytest

from cream_det import compat


def pytest_addoption(parser):
    parser.addoption('--run-slow', action='store_true',
                     help='also run the tests marked slow (end-to-end runs, minutes in all)')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: an end-to-end run; skipped unless --run-slow')
    # The tests build runners and load mmengine checkpoints as the tools do,
    # and the tools turn the stack's version workarounds on.
    compat.apply()


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
