"""C error codes become SamplerError subclasses; bad arguments raise."""
import signal
import threading

import pytest

import sampler
from sampler import _errors


def test_stop_before_start():
    with pytest.raises(sampler.NotStartedError) as ei:
        sampler.stop()
    e = ei.value
    assert e.code == -4 and e.name == "SAMPLER_ENOTSTARTED"
    assert "sampler_start()" in e.message
    assert isinstance(e, sampler.SamplerError)


def test_double_start():
    sampler.start()
    with pytest.raises(sampler.AlreadyStartedError) as ei:
        sampler.start()
    assert ei.value.code == -3
    sampler.stop()
    with pytest.raises(sampler.NotStartedError):
        sampler.stop()


def test_pause_resume_errors():
    with pytest.raises(sampler.NotStartedError):
        sampler.pause()
    with pytest.raises(sampler.NotStartedError):
        sampler.resume()
    sampler.start()
    with pytest.raises(sampler.NotPausedError):
        sampler.resume()
    sampler.pause()
    with pytest.raises(sampler.AlreadyPausedError):
        sampler.pause()
    sampler.resume()


def test_register_errors():
    with pytest.raises(sampler.NotStartedError):
        sampler.register_thread()
    sampler.start(current_thread=False)
    with pytest.raises(sampler.NotRegisteredError):
        sampler.unregister_thread()
    sampler.register_thread()
    with pytest.raises(sampler.AlreadyRegisteredError):
        sampler.register_thread()
    sampler.unregister_thread()
    with pytest.raises(sampler.NoSuchThreadError):
        sampler.register_tid(1)  # init's pid: not a thread of this process
    with pytest.raises(sampler.InvalidArgumentError):
        sampler.register_tid(0)
    with pytest.raises(TypeError):
        sampler.register_tid("1")
    with pytest.raises(sampler.NotRegisteredError):
        sampler.unregister_tid(threading.get_native_id())


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(interval=0), sampler.InvalidArgumentError),
        (dict(interval=-1.0), ValueError),
        (dict(interval=float("nan")), ValueError),
        (dict(interval=7200.0), ValueError),
        (dict(interval_ns=999), sampler.InvalidArgumentError),
        (dict(interval="fast"), TypeError),
        (dict(interval_ns=0.5), TypeError),
        (dict(interval=0.01, interval_ns=10**7), TypeError),
        (dict(clock="thread"), ValueError),
        (dict(walker="libunwind"), ValueError),
        (dict(max_depth="64"), TypeError),
        (dict(max_depth=-1), ValueError),
    ],
)
def test_bad_arguments_python(kwargs, exc):
    with pytest.raises(exc):
        sampler.start(**kwargs)
    assert sampler.state() == "stopped"


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_depth=0), dict(max_depth=100000), dict(buffer_capacity=0),
     dict(buffer_capacity=2**30)],
)
def test_bad_arguments_from_c(kwargs):
    # Range checks are the C library's: its EINVAL comes back as
    # InvalidArgumentError, which is also a ValueError.
    with pytest.raises(sampler.InvalidArgumentError) as ei:
        sampler.start(**kwargs)
    assert ei.value.code == -1 and ei.value.call == "sampler_start"
    assert isinstance(ei.value, ValueError)
    assert sampler.state() == "stopped"


def test_bad_signal():
    with pytest.raises(sampler.SignalError) as ei:
        sampler.start(signo=signal.SIGKILL)
    assert ei.value.code == -11
    assert sampler.state() == "stopped"


def test_every_code_has_its_class():
    seen = set()
    for code in range(-1, -19, -1):
        e = _errors.error_for(code, "x")
        assert type(e) is not sampler.SamplerError, code
        assert e.code == code and type(e).CODE == code
        assert e.name.startswith("SAMPLER_E") and e.message
        seen.add(type(e))
    assert len(seen) == 18
    unknown = _errors.error_for(-999)
    assert type(unknown) is sampler.SamplerError and unknown.message == "unknown error"


def test_timer_limit_in_child():
    # RLIMIT_SIGPENDING bounds POSIX timers per user: with it at 0 the
    # timer cannot be created. Done in a child so this process keeps its limit.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import resource, sampler
        soft, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (0, hard))
        sampler.start(current_thread=False)
        try:
            sampler.register_thread()
        except sampler.TimerLimitError as e:
            assert e.code == -7 and "ulimit -i" in e.message, e
            assert sampler.stats().timer_failures == 1
            print("TIMERLIMIT")
        else:
            print("REGISTERED")
        sampler.stop()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "TIMERLIMIT", out
