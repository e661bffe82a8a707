"""Shared fixtures: every test starts and ends with the sampler stopped."""
import time

import pytest

import sampler


@pytest.fixture(autouse=True)
def _stopped_sampler():
    if sampler.is_active():
        sampler.stop()
    sampler.drain()
    yield
    if sampler.is_active():
        sampler.stop()
    sampler.drain()


def burn_cpu(seconds: float) -> int:
    """Spin in Python for ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        for i in range(1000):
            n += i * i
    return n
