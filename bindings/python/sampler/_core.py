"""The sampler's lifecycle, thread registration, draining and statistics.

libsampler is process-global: there is one sampler per process, and these
functions drive it. :class:`sampler.Sampler` is a convenience wrapper.
"""
from __future__ import annotations

import atexit
import itertools
import math
import os
import signal as _signal
import sys
import threading
import weakref
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from _sampler import ffi, lib

from ._errors import InvalidArgumentError, NotStartedError, SamplerError, check

__all__ = [
    "Sample",
    "Stats",
    "start",
    "stop",
    "pause",
    "resume",
    "state",
    "is_active",
    "register_thread",
    "unregister_thread",
    "register_tid",
    "unregister_tid",
    "register_all_threads",
    "reap_threads",
    "drain",
    "samples",
    "stats",
    "thread_names",
    "library_version",
    "CLOCKS",
    "WALKERS",
]

#: accepted values of ``clock``
CLOCKS: Dict[str, int] = {"cpu": lib.SAMPLER_CLOCK_CPU, "wall": lib.SAMPLER_CLOCK_WALL}
#: accepted values of ``walker``: the built-in walkers only
WALKERS: Tuple[str, ...] = ("fp",)

_STATES = {0: "stopped", 1: "running", 2: "paused"}


class Sample(NamedTuple):
    """One sample, as :func:`drain` returns it.

    Attributes:
        tid: native thread id the sample was taken on (``threading.get_native_id()``).
        time_ns: ``CLOCK_MONOTONIC`` time the signal was handled (``time.monotonic_ns()``).
        weight: 1 + timer overruns: how many intervals this sample stands for.
        pcs: native program counters, innermost first.
        thread_arg: the ``arg`` given to :func:`register_thread` (``None`` by default).
        delayed_weight: CPU clock: intervals that passed while the thread had the
            signal blocked, for the sample taken as it unblocked it; not
            charged to ``pcs`` (0 for other samples).
    """

    tid: int
    time_ns: int
    weight: int
    pcs: Tuple[int, ...]
    thread_arg: Any = None
    delayed_weight: int = 0


@dataclass(frozen=True)
class Stats:
    """Counters since the last :func:`start` (``sampler_stats``).

    Once stopped, ``signals == samples + dropped`` holds exactly.
    """

    signals: int  #: timer signals accepted while running
    samples: int  #: samples stored in the buffer
    weight: int  #: sum of stored samples' weights
    overruns: int  #: timer overruns folded into weights
    dropped: int  #: samples dropped because the buffer was full
    dropped_weight: int  #: their weight
    paused: int  #: timer signals that arrived while paused
    foreign: int  #: signals that were not the sampler's
    stale: int  #: signals for threads no longer registered
    timer_failures: int  #: timer_create failures (RLIMIT_SIGPENDING)
    threads: int  #: threads registered now
    reaped: int  #: entries of exited threads reclaimed
    delayed: int = 0  #: samples whose signal came late (blocked), CPU clock
    delayed_weight: int = 0  #: their weight kept apart from their stacks
    handler_replaced: int = 0  #: 1: the program replaced the sampler's handler


# Python-side state. The C library has its own locking; this lock only keeps
# the thread hook and the argument table consistent with start/stop.
_lock = threading.RLock()
# thread_arg travels through C as a small integer key into this table, so any
# Python object can be a thread's argument without handing C a pointer to it.
_args: Dict[int, Any] = {}
_arg_keys = itertools.count(1)
# native tid -> thread name at registration, for reports
_names: Dict[int, str] = {}
# threading's profile hook before ours (restored at stop), and whether ours is set
_prev_hook: Optional[Callable[..., Any]] = None


def library_version() -> str:
    """The C library's version string (``sampler_version_string()``), e.g. ``"0.1.0"``."""
    return ffi.string(lib.sampler_version_string()).decode()


def _interval_ns(interval: Optional[float], interval_ns: Optional[int]) -> int:
    if interval is not None and interval_ns is not None:
        raise TypeError("give interval (seconds) or interval_ns, not both")
    if interval_ns is not None:
        if isinstance(interval_ns, bool) or not isinstance(interval_ns, int):
            raise TypeError(f"interval_ns must be an int, not {type(interval_ns).__name__}")
        ns = interval_ns
    else:
        if interval is None:
            interval = lib.SAMPLER_DEFAULT_INTERVAL_NS / 1e9
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"interval must be a number of seconds, not {type(interval).__name__}")
        if not math.isfinite(interval):
            raise InvalidArgumentError(-1, "start", f"interval must be finite, got {interval!r}")
        ns = round(interval * 1e9)
    if not lib.SAMPLER_INTERVAL_MIN_NS <= ns <= lib.SAMPLER_INTERVAL_MAX_NS:
        raise InvalidArgumentError(
            -1,
            "start",
            f"interval must be between {lib.SAMPLER_INTERVAL_MIN_NS} ns and "
            f"{lib.SAMPLER_INTERVAL_MAX_NS // 10**9} s, got {ns} ns",
        )
    return ns


def _int_arg(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise InvalidArgumentError(-1, "start", f"{name} must not be negative, got {value}")
    return value


def start(
    interval: Optional[float] = None,
    *,
    interval_ns: Optional[int] = None,
    clock: str = "cpu",
    walker: str = "fp",
    max_depth: int = 64,
    buffer_capacity: int = 16384,
    signo: int = int(_signal.SIGPROF),
    current_thread: bool = True,
    new_threads: bool = True,
    existing_threads: bool = False,
) -> None:
    """Start sampling.

    Args:
        interval: seconds of (CPU or wall) time between samples; default 0.01.
            CPU-clock timers are only checked at the scheduler tick (4 ms at
            ``CONFIG_HZ=250``): shorter intervals give fewer, heavier samples.
        interval_ns: the same in nanoseconds (give one or the other).
        clock: ``"cpu"`` (each thread's CPU time, the default) or ``"wall"``.
        walker: ``"fp"``, the built-in frame-pointer walker (the only one exposed).
        max_depth: most frames kept per sample, 1 to 512.
        buffer_capacity: samples kept until :func:`drain` (then dropped and
            counted in :attr:`Stats.dropped`), 1 to 2**22.
        signo: the signal the timers raise (default ``SIGPROF``).
        current_thread: register the calling thread.
        new_threads: register every thread started through :mod:`threading`
            while sampling, on its first Python call (see the note above
            ``_make_thread_hook`` in this module).
        existing_threads: also register every thread that exists now,
            including native ones (``sampler_register_all_threads``).

    Raises:
        AlreadyStartedError: the sampler is already started.
        InvalidArgumentError: an argument is out of range (also a ``ValueError``).
        ValueError: unknown ``clock`` or ``walker``.
        TypeError: an argument of the wrong type.
        SamplerError: another C error (e.g. :class:`SignalError`).
    """
    ns = _interval_ns(interval, interval_ns)
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    if walker not in WALKERS:
        raise ValueError(f"walker must be one of {list(WALKERS)} (built-ins only), got {walker!r}")
    depth = _int_arg("max_depth", max_depth)
    cap = _int_arg("buffer_capacity", buffer_capacity)
    sig = _int_arg("signo", int(signo))

    cfg = ffi.new("sampler_config *")
    check(lib.sampler_config_init(cfg, ffi.sizeof("sampler_config")), "sampler_config_init")
    cfg.interval_ns = ns
    cfg.clock = CLOCKS[clock]
    cfg.signo = sig
    cfg.walker = ffi.addressof(lib, "sampler_walk_fp")
    cfg.max_depth = min(depth, 2**31 - 1)
    cfg.buffer_capacity = min(cap, 2**63)
    with _lock:
        check(lib.sampler_start(cfg), "sampler_start")
        _args.clear()
        _names.clear()
        try:
            if new_threads:
                _install_hook()
            if existing_threads:
                register_all_threads()
            if current_thread:
                try:
                    register_thread()
                except SamplerError as e:
                    if e.CODE != -9:  # already registered by existing_threads
                        raise
        except BaseException:
            _stop_locked()
            raise


def stop() -> None:
    """Stop sampling: delete every timer, unregister every thread, restore the
    signal handler and the :mod:`threading` profile hook. Samples stay
    readable with :func:`drain` until the next :func:`start`.

    Raises:
        NotStartedError: the sampler is not running.
    """
    with _lock:
        _stop_locked()


def _stop_locked() -> None:
    _remove_hook()
    check(lib.sampler_stop(), "sampler_stop")


def pause() -> None:
    """Stop taking samples at once (O(1)); no samples are stored while paused.

    Raises:
        NotStartedError: not started.
        AlreadyPausedError: already paused.
    """
    check(lib.sampler_pause(), "sampler_pause")


def resume() -> None:
    """Resume after :func:`pause`, with no backlog from the paused period.

    Raises:
        NotStartedError: not started.
        NotPausedError: not paused.
    """
    check(lib.sampler_resume(), "sampler_resume")


def state() -> str:
    """``"stopped"``, ``"running"`` or ``"paused"``."""
    return _STATES.get(lib.sampler_state(), "unknown")


def is_active() -> bool:
    """True while started (running or paused)."""
    return lib.sampler_state() != 0


def _arg_key(arg: Any) -> int:
    if arg is None:
        return 0
    key = next(_arg_keys)
    _args[key] = arg
    return key


def register_thread(arg: Any = None) -> None:
    """Sample the calling thread. It is unregistered automatically when it exits.

    Args:
        arg: any object; it comes back as :attr:`Sample.thread_arg`.

    Raises:
        NotStartedError: not started.
        AlreadyRegisteredError: this thread is already registered.
        TimerLimitError: no POSIX timer left (``ulimit -i``).
    """
    with _lock:
        key = _arg_key(arg)
    check(lib.sampler_thread_register(ffi.cast("void *", key)), "sampler_thread_register")
    _names[threading.get_native_id()] = threading.current_thread().name


def unregister_thread() -> None:
    """Stop sampling the calling thread.

    Raises:
        NotStartedError: not started.
        NotRegisteredError: this thread is not registered.
    """
    check(lib.sampler_thread_unregister(), "sampler_thread_unregister")


def register_tid(tid: int, arg: Any = None) -> None:
    """Sample another thread of this process by its native id.

    Raises:
        InvalidArgumentError: ``tid <= 0``.
        NoSuchThreadError: no such thread.
        AlreadyRegisteredError: already registered.
    """
    if isinstance(tid, bool) or not isinstance(tid, int):
        raise TypeError(f"tid must be an int, not {type(tid).__name__}")
    if tid <= 0 or tid >= 2**31:
        raise InvalidArgumentError(-1, "sampler_thread_register_tid", f"bad tid {tid}")
    with _lock:
        key = _arg_key(arg)
    check(lib.sampler_thread_register_tid(tid, ffi.cast("void *", key)),
          "sampler_thread_register_tid")
    _remember_names()


def unregister_tid(tid: int) -> None:
    """Stop sampling thread ``tid``.

    Raises:
        InvalidArgumentError: ``tid <= 0``.
        NotRegisteredError: not registered.
    """
    if isinstance(tid, bool) or not isinstance(tid, int):
        raise TypeError(f"tid must be an int, not {type(tid).__name__}")
    if tid <= 0 or tid >= 2**31:
        raise InvalidArgumentError(-1, "sampler_thread_unregister_tid", f"bad tid {tid}")
    check(lib.sampler_thread_unregister_tid(tid), "sampler_thread_unregister_tid")


def register_all_threads() -> int:
    """Register every thread of the process not registered yet (native ones too).

    Returns:
        the number of threads newly registered.
    """
    n = check(lib.sampler_register_all_threads(), "sampler_register_all_threads")
    _remember_names()
    return n


def reap_threads() -> int:
    """Reclaim entries of registered threads that have exited; returns how many."""
    return check(lib.sampler_reap_threads(), "sampler_reap_threads")


def _remember_names() -> None:
    for t in threading.enumerate():
        if t.native_id is not None:
            _names.setdefault(t.native_id, t.name)


def thread_names() -> Dict[int, str]:
    """Native tid -> :mod:`threading` name of the threads registered since :func:`start`."""
    return dict(_names)


# ---------------------------------------------------------------------------
# Automatic registration of threads started through `threading`.
#
# threading.setprofile(hook) makes every thread started afterwards through
# threading.Thread call sys.setprofile(hook) in Thread._bootstrap_inner, just
# before run(). Our hook runs once, on the new thread's first profile event
# (the call of run()): it puts back the per-thread profiler the user had asked
# for (or none), registers the thread with libsampler (on the right native
# thread, so the C library's exit destructor cleans up), and forwards that first
# event to the user's hook. Cost: one extra Python call per new thread; no
# profiling overhead afterwards. This uses only documented APIs (unlike patching
# Thread._bootstrap_inner), does not clobber a profiler set with
# threading.setprofile() before start() (it is chained), and stop() restores
# it. Limits: threads from _thread.start_new_thread or native code are not
# seen (call register_thread() in them, or start(existing_threads=True) /
# register_all_threads()); a threading.setprofile() call made *while* sampling
# replaces our hook (stop() then leaves it alone).
# ---------------------------------------------------------------------------


def _get_threading_profile() -> Optional[Callable[..., Any]]:
    getprofile = getattr(threading, "getprofile", None)  # Python 3.10+
    if getprofile is not None:
        return getprofile()
    return getattr(threading, "_profile_hook", None)


def _make_thread_hook(prev: Optional[Callable[..., Any]]) -> Callable[[Any, str, Any], None]:
    """The profile hook run once in each new :mod:`threading` thread: it puts
    back ``prev`` (the user's hook, bound now so a late-starting thread still
    gets it after :func:`stop`), registers the thread and forwards the event."""

    def _thread_hook(frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(prev)
        try:
            register_thread()
        except SamplerError:
            # Not started any more (stopped before this thread ran), already
            # registered, or out of timers (counted in stats().timer_failures).
            pass
        if prev is not None:
            prev(frame, event, arg)

    return _thread_hook


_hook: Optional[Callable[..., Any]] = None


def _install_hook() -> None:
    global _prev_hook, _hook
    if _hook is not None:
        return
    _prev_hook = _get_threading_profile()
    _hook = _make_thread_hook(_prev_hook)
    threading.setprofile(_hook)


def _remove_hook() -> None:
    global _prev_hook, _hook
    if _hook is None:
        return
    if _get_threading_profile() is _hook:
        threading.setprofile(_prev_hook)  # type: ignore[arg-type]
    _prev_hook = None
    _hook = None


# ---------------------------------------------------------------------------
# Reading samples
# ---------------------------------------------------------------------------


def drain(max: int = 0) -> List[Sample]:
    """Take buffered samples out of the library, oldest first.

    Works while running, paused and after :func:`stop`. Call it now and then
    in a long run: a full buffer drops new samples.

    Args:
        max: most samples to take; 0 means all that are ready.
    Returns:
        the samples, as :class:`Sample` tuples.
    """
    return _drain(_int_arg("max", max), ffi.NULL)


def _drain(mx: int, cprofile: Any) -> List[Sample]:
    """:func:`drain`, also adding every sample to the C ``sampler_profile *``
    ``cprofile`` (``ffi.NULL`` for none) in the same pass, in C."""
    buf = ffi.new("pysampler_buf *")
    buf.profile = cprofile
    try:
        rc = lib.pysampler_drain(buf, mx)
        words = ffi.unpack(buf.words, buf.len) if buf.len else []
        oom = buf.oom
        add_err = buf.add_err
    finally:
        lib.pysampler_buf_free(buf)
    check(rc, "sampler_drain")
    out: List[Sample] = []
    args = _args
    i, n = 0, len(words)
    while i < n:
        depth = words[i + 4]
        out.append(
            Sample(
                words[i],
                words[i + 1],
                words[i + 2],
                tuple(words[i + 6 : i + 6 + depth]),
                args.get(words[i + 3]) if words[i + 3] else None,
                words[i + 5],
            )
        )
        i += 6 + depth
    if oom:
        raise MemoryError(f"out of memory while draining ({len(out)} samples read)")
    check(add_err, "sampler_profile_add")
    return out


def samples(batch: int = 4096) -> Iterator[Sample]:
    """Iterate over buffered samples, draining ``batch`` at a time until the
    buffer is empty. Handy as ``for s in sampler.samples(): ...``."""
    b = _int_arg("batch", batch)
    if b == 0:
        raise InvalidArgumentError(-1, "samples", "batch must be >= 1")
    while True:
        got = drain(b)
        yield from got
        if len(got) < b:
            return


def stats() -> Stats:
    """The library's counters (valid in every state, also after :func:`stop`)."""
    st = ffi.new("sampler_stats *")
    check(lib.sampler_get_stats(st, ffi.sizeof("sampler_stats")), "sampler_get_stats")
    return Stats(**{f.name: getattr(st, f.name) for f in fields(Stats)})


# ---------------------------------------------------------------------------
# fork()
#
# The C library puts the child's sampler in a clean stopped state and keeps
# every C profile usable there (pthread_atfork handlers). The Python side
# follows in os.register_at_fork's child hook: locks another thread may have
# held at the fork are replaced (that thread does not exist in the child), the
# threading hook is removed (the child's sampler is stopped), and every
# Profile and Sampler alive resets its own state (_after_fork_child).
# ---------------------------------------------------------------------------

#: objects with an ``_after_fork_child()`` method, called in a fork child
_fork_aware: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _after_fork_child() -> None:
    global _lock
    _lock = threading.RLock()
    _remove_hook()
    for obj in list(_fork_aware):
        obj._after_fork_child()


os.register_at_fork(after_in_child=_after_fork_child)


@atexit.register
def _stop_at_exit() -> None:
    # Leave the process's signal disposition as we found it.
    try:
        if is_active():
            stop()
    except SamplerError:
        pass
