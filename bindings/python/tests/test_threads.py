"""Threads started through `threading` are registered and attributed."""
import sys
import threading

import sampler
from conftest import burn_cpu


def _run_workers(n, seconds):
    ids = {}

    def worker(k):
        ids[k] = threading.get_native_id()
        burn_cpu(seconds)

    ts = [threading.Thread(target=worker, args=(k,), name=f"worker-{k}") for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ids


def test_threads_are_attributed():
    with sampler.Sampler(interval=0.002, current_thread=False) as s:
        ids = _run_workers(3, 0.15)
    by_tid = {}
    for x in s.samples():
        by_tid[x.tid] = by_tid.get(x.tid, 0) + x.weight
    assert set(by_tid) == set(ids.values())  # only the workers, each its own tid
    for k, tid in ids.items():
        assert by_tid[tid] >= 30, (k, by_tid)
        assert s.thread_names()[tid] == f"worker-{k}"


def test_no_new_threads_when_disabled():
    with sampler.Sampler(interval=0.002, current_thread=False, new_threads=False) as s:
        _run_workers(2, 0.05)
    assert s.samples() == []


def test_threads_after_stop_not_registered():
    sampler.start(interval=0.002, current_thread=False)
    sampler.stop()
    sampler.drain()
    _run_workers(1, 0.05)
    assert sampler.drain() == []


def test_user_thread_profiler_is_chained_and_restored():
    events = []

    def user_hook(frame, event, arg):
        if event == "call":
            events.append(threading.get_native_id())

    threading.setprofile(user_hook)
    try:
        with sampler.Sampler(interval=0.002, current_thread=False) as s:
            ids = _run_workers(1, 0.05)
        tid = ids[0]
        assert tid in events  # the user's hook still runs in new threads
        assert {x.tid for x in s.samples()} == {tid}
        getprofile = getattr(threading, "getprofile", None)
        current = getprofile() if getprofile else threading._profile_hook
        assert current is user_hook
    finally:
        threading.setprofile(None)
    assert sys.getprofile() is None  # the main thread was never touched


def test_existing_threads():
    ready = threading.Event()
    done = threading.Event()
    box = {}

    def worker():
        box["tid"] = threading.get_native_id()
        ready.set()
        while not done.is_set():
            burn_cpu(0.01)

    t = threading.Thread(target=worker)
    t.start()
    ready.wait()
    try:
        with sampler.Sampler(interval=0.002, current_thread=False, existing_threads=True) as s:
            burn_cpu(0.05)
            while sum(x.weight for x in s.samples() if x.tid == box["tid"]) < 10:
                burn_cpu(0.01)
    finally:
        done.set()
        t.join()
    assert box["tid"] in {x.tid for x in s.samples()}


def test_exited_threads_unregister_themselves():
    import time

    sampler.start(interval=0.002, current_thread=False)
    _run_workers(3, 0.02)
    # A thread's timer is deleted by a pthread key destructor when the native
    # thread exits, shortly after join() returns: bounded wait.
    deadline = time.monotonic() + 5
    while sampler.stats().threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.stats().threads == 0
    sampler.stop()
