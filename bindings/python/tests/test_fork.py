"""fork() inside a sampling run: every child exits normally, in bounded time.

Each scenario runs in its own interpreter (a subprocess), which forks 20
children inside ``sampler.profile(...)``, one at a time, and waits for each
with a time limit (a hung child is killed and reported). Children leave the
``with`` block by ``sys.exit(0)``, so ``__exit__``, atexit and the
interpreter's final garbage collection (which frees the C profile) all run in
the child. Before the fix, with ``collect=True`` most children hung in
``pthread_cond_destroy`` (freeing a profile whose collector ran in the
parent), and without it every child printed a ``NotStartedError`` traceback
from ``__exit__`` and exited 1.
"""
import json
import subprocess
import sys

import pytest

SCRIPT = r'''
import json, os, sys, threading, time, traceback
import sampler

collect = sys.argv[1] == "1"
N = 20
CHILD_LIMIT = 60.0  # seconds per child: a loaded 2-core machine
MODES = ("exit", "write", "close", "stop", "own_run")
devnull = os.devnull
tmp = sys.argv[2]


def burn(seconds):
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += sum(i * i for i in range(200))
    return n


def child(s, mode, weight_at_fork, nsamples_at_fork):
    prof = s.profile
    assert prof.totals().weight >= weight_at_fork, (prof.totals(), weight_at_fork)
    assert s.drain() == []  # the buffer is not the parent's run any more
    if not collect:
        assert len(s.samples()) == nsamples_at_fork
    if mode == "write":
        # the parent's samples up to the fork, written whole
        path = os.path.join(tmp, f"child-{os.getpid()}.folded")
        s.write_folded(path)
        with open(path) as f:
            total = sum(int(line.rsplit(" ", 1)[1]) for line in f)
        assert total == prof.totals().weight >= weight_at_fork > 0, (total, weight_at_fork)
        s.write_svg(os.path.join(tmp, f"child-{os.getpid()}.svg"))
        if "pprof" in sampler.profile_features():
            s.write_pprof(os.path.join(tmp, f"child-{os.getpid()}.pb.gz"))
    elif mode == "close":
        # a thread of the parent was inside a method of this profile at the
        # fork (holder): it is not here, and close() must not wait for it
        prof.close()
        try:
            prof.totals()
        except sampler.ProfileClosedError:
            pass
        else:
            raise AssertionError("totals() after close() did not raise")
    elif mode == "stop":
        try:
            s.stop()
        except sampler.NotStartedError as e:
            assert "fork" in str(e), e
        else:
            raise AssertionError("stop() in the child did not raise NotStartedError")
        if collect:
            try:
                prof.stop_collector()
            except sampler.NotCollectingError:
                pass
            else:
                raise AssertionError("the child stopped the parent's collector")
    elif mode == "own_run":
        with sampler.profile(interval=0.002, collect=collect) as own:
            burn(0.05)
        assert own.stats().samples > 0, own.stats()
        assert s.profile.totals().weight >= weight_at_fork


results = []
with sampler.profile(interval=0.001, collect=collect, collect_period_ms=1) as s:
    # Another thread writes the run's profile all along, so forks land while
    # it is inside a Profile method (C write under way, or waiting for the GIL).
    quit = threading.Event()
    writes = [0]

    def writer():
        while not quit.is_set():
            s.profile.write_folded(devnull, threads=False)
            writes[0] += 1
            time.sleep(0.001)

    # For "close" children: a thread inside a Profile method at the fork, for sure.
    holding, release = threading.Event(), threading.Event()

    def holder():
        with s.profile._use():
            holding.set()
            release.wait()

    wt = threading.Thread(target=writer)
    wt.start()
    for k in range(N):
        burn(0.01)
        if not collect:
            s.drain()
        weight = s.profile.totals().weight
        nsamples = 0 if collect else len(s.samples())
        mode = MODES[k % len(MODES)]
        if mode == "close":
            holding.clear()
            release.clear()
            ht = threading.Thread(target=holder)
            ht.start()
            if not holding.wait(60):
                results.append((mode, "no holder"))
                break
        pid = os.fork()
        if pid == 0:
            try:
                child(s, mode, weight, nsamples)
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(3)
            sys.exit(0)  # leaves the with block: __exit__, atexit, final GC
        if mode == "close":
            release.set()
            ht.join()
        deadline = time.monotonic() + CHILD_LIMIT
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                results.append((mode, os.waitstatus_to_exitcode(status)))
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                results.append((mode, "hung"))
                break
            time.sleep(0.005)
        if results[-1][1] == "hung":
            break
    quit.set()
    wt.join()
st = s.stats()
print(json.dumps({"results": results, "writes": writes[0], "samples": st.samples,
                  "weight": st.weight + st.delayed_weight, "profile_weight": s.profile.totals().weight,
                  "dropped": st.dropped}))
'''


@pytest.mark.parametrize("collect", [True, False], ids=["collect", "no_collect"])
def test_fork_children_exit_cleanly(collect, tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT, "1" if collect else "0", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip(), (r.returncode, r.stdout, r.stderr)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # (child number, what it did, exit code or "hung")
    bad = [(i, mode, code) for i, (mode, code) in enumerate(out["results"]) if code != 0]
    assert not bad, (bad, r.stderr[-3000:])
    assert len(out["results"]) == 20
    assert "Traceback" not in r.stderr, r.stderr
    assert out["writes"] > 0
    # the parent's run went on through the forks and kept every sample
    if collect:
        assert out["dropped"] == 0, out
        assert out["profile_weight"] == out["weight"] > 0, out

