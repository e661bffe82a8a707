"""Profile.close() against calls under way in other threads, and after it.

close() used to free the C profile while another thread was inside a C
writer (the GIL is released there): a segfault (5 of 5 runs of the
reproduction), once a libdw assertion. Now close() waits for the calls under
way and every later call raises ProfileClosedError. The race runs in a
subprocess, so a crash fails the test instead of killing pytest.
"""
import subprocess
import sys
import threading

import pytest

import sampler
from conftest import burn_cpu

RACE = r'''
import random, sys, threading, time, zlib
import sampler

rounds, tmp = int(sys.argv[1]), sys.argv[2]
rng = random.Random(5)
DATA = bytes(rng.choices(b"abcdefghijklmnop", k=1 << 16))
# Real native stacks (zlib, the interpreter), so that a writer symbolizes
# (libdw) for a while in C without the GIL.
with sampler.Sampler(interval=0.001) as s:
    end = time.thread_time() + 0.3
    while time.thread_time() < end:
        zlib.compress(DATA, 6)
samples = s.samples()
assert len(samples) > 10, len(samples)
pprof = "pprof" in sampler.profile_features()
errors, calls_made = [], [0]


def user(p, k):
    calls = [
        lambda: p.write_svg(f"{tmp}/{k}.svg"),
        lambda: p.write_folded(f"{tmp}/{k}.folded"),
        lambda: p.write_pprof(f"{tmp}/{k}.pb.gz") if pprof else p.totals(),
        p.totals,
        lambda: p.add(samples[:5]),
        p.drain,
        lambda: (p.start_collector(1), p.stop_collector()),
        lambda: p._drain_samples(),
        lambda: repr(p),
    ]
    i = k
    while True:
        try:
            calls[i % len(calls)]()
        except sampler.ProfileClosedError:
            return
        except (sampler.AlreadyCollectingError, sampler.NotCollectingError):
            pass  # another user thread started or stopped the collector first
        except BaseException as e:
            errors.append(f"call {i % len(calls)}: {e!r}")
            return
        i += 1
        calls_made[0] += 1


for rnd in range(rounds):
    p = sampler.Profile()
    p.add(samples)
    ts = [threading.Thread(target=user, args=(p, k)) for k in range(3)]
    for t in ts:
        t.start()
    time.sleep(rng.uniform(0, 0.02))
    closers = [threading.Thread(target=p.close) for _ in range(2)]
    for c in closers:
        c.start()
    p.close()
    for t in ts + closers:
        t.join()
    assert p.closed
    assert not errors, errors
print("ok", rounds, calls_made[0])
'''


def test_close_while_other_threads_write(tmp_path):
    r = subprocess.run([sys.executable, "-c", RACE, "40", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (f"exit code {r.returncode} (negative: killed by that signal)",
                               r.stdout, r.stderr[-3000:])
    assert r.stdout.startswith("ok 40"), r.stdout


def test_methods_after_close_raise():
    p = sampler.Profile()
    assert not p.closed
    p.add([sampler.Sample(threading.get_native_id(), 0, 1, (0x1234,))])
    p.close()
    assert p.closed
    p.close()  # twice: nothing
    assert "closed" in repr(p)
    calls = [p.totals, p.drain, p.reset, lambda: p.add([]), lambda: p.start_collector(5),
             p.stop_collector, lambda: p.write_folded("x"), lambda: p.write_pprof("x"),
             lambda: p.write_svg("x"), p._drain_samples]
    for call in calls:
        with pytest.raises(sampler.ProfileClosedError, match="closed"):
            call()
    assert issubclass(sampler.ProfileClosedError, ValueError)


def test_close_waits_for_a_call_under_way():
    p = sampler.Profile()
    inside, leave = threading.Event(), threading.Event()

    def user():
        with p._use():  # what every method does around its C call
            inside.set()
            leave.wait(60)

    t = threading.Thread(target=user, daemon=True)
    t.start()
    try:
        assert inside.wait(60)
        closer = threading.Thread(target=p.close, daemon=True)
        closer.start()
        closer.join(0.2)
        assert closer.is_alive()  # waits for the user
        with pytest.raises(sampler.ProfileClosedError):
            p.totals()  # closing: no new call starts
    finally:
        leave.set()
    t.join(60)
    closer.join(60)
    assert not closer.is_alive() and p.closed


def test_sampler_with_closed_profile(tmp_path):
    s = sampler.Sampler(interval=0.002)
    s.start()
    burn_cpu(0.02)
    s.profile.close()
    with pytest.raises(sampler.ProfileClosedError):
        s.write_folded(tmp_path / "x.folded")
    s.stop()  # the run stops; the closed profile is left alone
    assert not sampler.is_active()
