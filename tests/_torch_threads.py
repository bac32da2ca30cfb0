"""Shared by the adapter tests: run tiny models on one torch thread.

On a 2-core machine shared with other processes, two torch threads spin-wait on each other and a tiny
ResNet step takes seconds instead of milliseconds; one thread is also what small models need. Import the
fixture into a test module (``from _torch_threads import one_torch_thread  # noqa: F401``) to apply it there.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
