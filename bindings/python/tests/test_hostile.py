"""What a program does to the sampler's signal is seen from Python too."""
import signal

import sampler
from conftest import burn_cpu


def test_blocked_signal_weight_is_delayed_weight():
    sampler.start(interval=0.01)
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
        try:
            burn_cpu(0.3)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        burn_cpu(0.01)
    finally:
        sampler.stop()
    got = sampler.drain()
    late = max(got, key=lambda s: s.delayed_weight)
    # 30 intervals passed while blocked; at most one tick's worth is on time.
    assert late.delayed_weight >= 20, late
    assert late.weight <= 2, late
    st = sampler.stats()
    assert st.delayed >= 1
    assert st.delayed_weight == sum(s.delayed_weight for s in got)


def test_handler_replaced_is_reported():
    sampler.start(interval=0.01)
    try:
        assert sampler.stats().handler_replaced == 0
        signal.signal(signal.SIGPROF, lambda *a: None)
        assert sampler.stats().handler_replaced == 1
    finally:
        sampler.stop()  # leaves the program's handler in place
    try:
        assert signal.getsignal(signal.SIGPROF) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        assert sampler.stats().handler_replaced == 1
    finally:
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
