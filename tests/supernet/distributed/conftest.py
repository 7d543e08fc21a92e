import builtins

import pytest


@pytest.fixture(autouse=True)
def _restore_print():
    """A Ray driver that shows worker progress replaces `builtins.print` (ray.experimental.tqdm_ray); put it back
    so later test modules see the real one."""
    original = builtins.print
    yield
    builtins.print = original
