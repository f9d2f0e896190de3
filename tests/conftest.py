"""Shared pytest fixtures."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Run a test's torch work on one thread, then restore the setting.

    The tests' networks are small: threads gain nothing, and on a busy 2-core machine
    OpenMP threads waiting for each other make them several times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
