"""A native hot spot: zlib runs with the GIL released, in libz's C code.

Two threads compress with 1:3 work; each thread's share of the sample weight
must match its share of CPU time (time.thread_time() inside the thread), and
the innermost frames must symbolize into libz.
"""
import random
import threading
import time
import zlib

import sampler

DATA = bytes(random.Random(1).choices(b"abcdefghijklmnop", k=1 << 19))


def test_zlib_weight_shares_and_symbols():
    cpu = {}
    tids = {}

    def worker(name, rounds):
        tids[name] = threading.get_native_id()
        t0 = time.thread_time()
        for _ in range(rounds):
            zlib.compress(DATA, 6)
        cpu[name] = time.thread_time() - t0

    with sampler.Sampler(interval=0.002, current_thread=False) as s:
        ts = [threading.Thread(target=worker, args=("light", 6)),
              threading.Thread(target=worker, args=("heavy", 18))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    weight = {name: sum(x.weight for x in s.samples() if x.tid == tid)
              for name, tid in tids.items()}
    total_w = sum(weight.values())
    total_cpu = sum(cpu.values())
    assert total_w > 100, weight
    for name in tids:
        w_share = weight[name] / total_w
        c_share = cpu[name] / total_cpu
        assert abs(w_share - c_share) < 0.05, (name, weight, cpu)
    assert abs(weight["light"] / total_w - 0.25) < 0.1

    top = s.top_functions(5)
    for name, tid in tids.items():
        libz = sum(f.share for f in top[tid] if f.module.startswith("libz"))
        assert libz > 0.5, (name, top[tid])
    # folded stacks name libz frames too
    assert any("libz" in line for line in sampler.folded_lines(s.samples()))


def test_symbolize():
    sym = sampler.symbolize(int(sampler._core.ffi.cast(
        "uintptr_t", sampler._core.ffi.addressof(sampler._core.lib, "sampler_walk_fp"))))
    assert sym.module and sym.module_name.startswith("_sampler")
    z = sampler.symbolize(int(sampler._core.ffi.cast(
        "uintptr_t", sampler._core.ffi.cast("void *", 0))))
    assert z.module == "" and z.label == "0x0"
