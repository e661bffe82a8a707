"""Start/stop/pause/resume, the context manager, drain and stats."""
import threading
import time
import warnings

import pytest

import sampler
from conftest import burn_cpu


def test_state_and_version():
    assert sampler.state() == "stopped"
    assert sampler.library_version() == sampler.__version__
    sampler.start(interval=0.005)
    assert sampler.state() == "running" and sampler.is_active()
    sampler.pause()
    assert sampler.state() == "paused"
    sampler.resume()
    sampler.stop()
    assert sampler.state() == "stopped" and not sampler.is_active()


def test_context_manager_collects_main_thread():
    with sampler.Sampler(interval=0.002) as s:
        assert sampler.state() == "running"
        burn_cpu(0.3)
    assert sampler.state() == "stopped"
    got = s.samples()
    assert len(got) > 10
    me = threading.get_native_id()
    assert {x.tid for x in got} == {me}
    st = s.stats()
    assert st.signals == st.samples + st.dropped
    assert sum(x.weight for x in got) == st.weight
    # 0.3 s of CPU at 2 ms: weight counts intervals (overruns folded in)
    assert 100 <= st.weight <= 200
    for x in got:
        assert isinstance(x.pcs, tuple) and len(x.pcs) >= 1 and x.weight >= 1
    assert all(a.time_ns <= b.time_ns for a, b in zip(got, got[1:]))


def test_profile_alias_and_folded(tmp_path):
    with sampler.profile(0.004) as p:
        burn_cpu(0.1)
    out = tmp_path / "p.folded"
    n = p.write_folded(out)
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        comm = f.read().strip()
    lines = out.read_text().splitlines()
    assert n == len(lines) > 0
    total = 0
    for line in lines:
        stack, w = line.rsplit(" ", 1)
        # C writer: threads are rooted at "name (tid)", the threading name
        assert stack.startswith(f"MainThread ({threading.get_native_id()});"), (stack, comm)
        total += int(w)
    st = p.stats()
    assert total == st.weight + st.delayed_weight  # delayed weight: a frame of its own
    # the pure-Python folded_lines keeps threading names
    assert all(x.startswith("MainThread-") for x in sampler.folded_lines(p.samples()))


def test_pause_means_no_samples():
    sampler.start(interval=0.002)
    burn_cpu(0.1)
    sampler.pause()
    t_paused = time.monotonic_ns()
    before = sampler.drain()
    assert before and all(s.time_ns <= t_paused for s in before)
    burn_cpu(0.3)
    assert sampler.drain() == []
    st = sampler.stats()
    t_resume = time.monotonic_ns()
    sampler.resume()
    burn_cpu(0.1)
    sampler.stop()
    after = sampler.drain()
    assert after and all(s.time_ns >= t_resume for s in after)
    assert sampler.stats().samples - st.samples == len(after)


def test_drain_max_and_samples_iterator():
    sampler.start(interval=0.002)
    burn_cpu(0.1)
    sampler.stop()
    first = sampler.drain(3)
    assert len(first) == 3
    rest = list(sampler.samples(batch=2))
    assert len(rest) == sampler.stats().samples - 3
    assert sampler.drain() == []


def test_samples_readable_after_stop_until_next_start():
    sampler.start(interval=0.002)
    burn_cpu(0.05)
    sampler.stop()
    sampler.start()
    sampler.stop()
    assert sampler.drain() == []  # start discarded them


def test_thread_arg_round_trip():
    tag = {"request": 42}
    got = []

    def worker():
        sampler.register_thread(tag)
        burn_cpu(0.1)
        got.append(threading.get_native_id())

    sampler.start(interval=0.002, current_thread=False, new_threads=False)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    sampler.stop()
    samples = sampler.drain()
    assert samples and all(s.tid == got[0] and s.thread_arg is tag for s in samples)


def test_wall_clock_samples_idle_thread():
    sampler.start(interval=0.005, clock="wall")
    time.sleep(0.2)
    sampler.stop()
    # wall clock: sampled while sleeping; CPU clock would give ~nothing
    assert sum(s.weight for s in sampler.drain()) >= 20


# ---- samples dropped because the buffer was full: one SamplerWarning --------


def _sampler_warnings(records):
    return [w for w in records if issubclass(w.category, sampler.SamplerWarning)]


def test_dropped_samples_warn_at_end_of_block():
    assert issubclass(sampler.SamplerWarning, RuntimeWarning)
    assert "SamplerWarning" in sampler.__all__
    with pytest.warns(sampler.SamplerWarning) as rec:
        # 0.2 s of CPU at 1 ms (4 ms ticks): ~50 samples for a buffer of 2
        with sampler.profile(interval=0.001, buffer_capacity=2) as s:
            burn_cpu(0.2)
    st = s.stats()
    assert st.dropped > 0, st
    ws = _sampler_warnings(rec)
    assert len(ws) == 1, [str(w.message) for w in ws]
    msg = str(ws[0].message)
    assert f"{st.dropped} of {st.samples + st.dropped} samples" in msg, msg
    assert f"weight {st.dropped_weight} of {st.weight + st.dropped_weight}" in msg, msg
    for advice in ("drain()", "collect=True", "buffer_capacity (now 2)"):
        assert advice in msg, msg
    assert ws[0].filename == __file__  # points at the with statement


def test_dropped_samples_warn_at_stop_with_collector():
    # the collector would drain after 60 s: everything beyond 2 samples is dropped
    s = sampler.Sampler(interval=0.001, buffer_capacity=2, collect=True,
                        collect_period_ms=60000)
    s.start()
    burn_cpu(0.2)
    with pytest.warns(sampler.SamplerWarning) as rec:
        s.stop()
    ws = _sampler_warnings(rec)
    assert len(ws) == 1
    msg = str(ws[0].message)
    assert f"{s.stats().dropped} of " in msg and "collect_period_ms (now 60000)" in msg, msg
    assert ws[0].filename == __file__  # points at the stop() call


def test_no_warning_without_drops():
    with warnings.catch_warnings():
        warnings.simplefilter("error", sampler.SamplerWarning)
        with sampler.profile(interval=0.002) as s:
            burn_cpu(0.05)
        s.start()
        burn_cpu(0.02)
        s.stop()
    assert s.stats().dropped == 0
