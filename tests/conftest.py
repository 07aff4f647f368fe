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


def pytest_collection_modifyitems(config, items):
    if config.getoption('--run-slow'):
        return
    skip = pytest.mark.skip(reason='slow: run with --run-slow')
    for item in items:
        if 'slow' in item.keywords:
            item.add_marker(skip)
