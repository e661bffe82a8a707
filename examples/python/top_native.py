#!/usr/bin/env python3
"""Sample native stacks of a few worker threads and report where they burn CPU.

Three threads work for a while: two compress with zlib (CPU about 1:3), one hashes
with hashlib. Both libraries run in C with the GIL released, so the samples
land in libz / libcrypto. The script prints the top native functions per
thread, checks each thread's weight against its CPU time, and writes the profile
with libsampler's C writers: folded stacks (flamegraph.pl, inferno,
speedscope), gzip'd pprof (`go tool pprof -top profile.pb.gz`) and an SVG
flame graph.

Run it from the top of a built tree (see README.md, section "Python")::

    PYTHONPATH=bindings/python /usr/bin/python3 examples/python/top_native.py

or with the package installed in a virtual environment::

    VENV/bin/python examples/python/top_native.py --output profile.folded \
        --pprof profile.pb.gz --svg profile.svg
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import threading
import time
import zlib
from typing import Callable, Dict

import sampler


def zlib_full(data: bytes, stop_at: float) -> None:
    """Compress without a break until ``stop_at``."""
    while time.monotonic() < stop_at:
        zlib.compress(data, 6)


def zlib_third(data: bytes, stop_at: float) -> None:
    """Compress, then sleep twice as long as that took: about 1/3 of zlib_full's CPU."""
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        zlib.compress(data, 6)
        time.sleep(2 * (time.monotonic() - t0))


def sha_full(data: bytes, stop_at: float) -> None:
    """Hash without a break until ``stop_at``."""
    while time.monotonic() < stop_at:
        hashlib.sha256(data).digest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="how long the workers run")
    ap.add_argument("--interval", type=float, default=0.004, help="seconds of CPU per sample")
    ap.add_argument("--top", type=int, default=5, help="functions shown per thread")
    ap.add_argument("--output", default="profile.folded", help="folded profile to write")
    ap.add_argument("--pprof", default="profile.pb.gz",
                    help="gzip'd pprof profile to write ('' to skip)")
    ap.add_argument("--svg", default="profile.svg", help="SVG flame graph to write ('' to skip)")
    args = ap.parse_args()

    data = bytes(random.Random(0).choices(b"abcdefghijklmnop", k=1 << 18))
    cpu: Dict[int, float] = {}

    def timed(fn: Callable[..., None], *fargs: object) -> Callable[[], None]:
        def run() -> None:
            t0 = time.thread_time()
            fn(*fargs)
            cpu[threading.get_native_id()] = time.thread_time() - t0
        return run

    stop_at = time.monotonic() + args.seconds
    workers = [
        threading.Thread(target=timed(zlib_third, data, stop_at), name="zlib-light"),
        threading.Thread(target=timed(zlib_full, data, stop_at), name="zlib-heavy"),
        threading.Thread(target=timed(sha_full, data * 8, stop_at), name="sha256"),
    ]

    # Threads started inside the `with` block are registered automatically.
    with sampler.profile(interval=args.interval, current_thread=False) as prof:
        for t in workers:
            t.start()
        for t in workers:
            t.join()

    st = prof.stats()
    print(f"libsampler {sampler.library_version()}: {st.samples} samples, weight {st.weight}"
          f" ({st.overruns} overruns folded in), {st.dropped} dropped")
    print()
    print(prof.format_top(args.top))
    print()

    weights: Dict[int, int] = {}
    for s in prof.samples():
        weights[s.tid] = weights.get(s.tid, 0) + s.weight
    total_w = sum(weights.values()) or 1
    total_cpu = sum(cpu.values()) or 1.0
    names = prof.thread_names()
    print("thread        CPU s   CPU share  sample share")
    for tid, secs in sorted(cpu.items()):
        print(f"{names.get(tid, tid):<12} {secs:6.2f}   {secs / total_cpu:8.1%}   "
              f"{weights.get(tid, 0) / total_w:10.1%}")

    print()
    prof.write_folded(args.output)
    print(f"wrote {os.path.abspath(args.output)} (folded: flamegraph.pl / inferno / speedscope)")
    if args.pprof:
        if "pprof" in sampler.profile_features():
            prof.write_pprof(args.pprof)
            print(f"wrote {os.path.abspath(args.pprof)} (go tool pprof -top {args.pprof})")
        else:
            print("pprof skipped: this libsampler was built without pprof support")
    if args.svg:
        prof.write_svg(args.svg)
        print(f"wrote {os.path.abspath(args.svg)} (SVG flame graph)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
