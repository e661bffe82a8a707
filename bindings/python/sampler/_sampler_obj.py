"""The :class:`Sampler` object and :func:`profile`: a context manager around
the process-global sampler that keeps the samples it collected."""
from __future__ import annotations

import os
import signal as _signal
import threading
import warnings
from typing import Any, Dict, List, Optional, Type

from . import _core
from ._core import Sample, Stats
from ._errors import NotStartedError, ProfileClosedError, SamplerWarning
from ._profile import Format, Profile
from ._report import FunctionShare, PathLike, format_top, top_functions

__all__ = ["Sampler", "profile"]


class Sampler:
    """Settings for one sampling run, and the samples it collected.

    ``with Sampler(...) as s:`` starts sampling on entry and stops on exit;
    then :meth:`samples`, :meth:`top_functions`, :meth:`write_folded`,
    :meth:`write_pprof` and :meth:`write_svg` work on everything collected.
    The C sampler is process-global, so only one :class:`Sampler` can be
    active at a time (a second raises :class:`~sampler.AlreadyStartedError`).

    Each run owns a C :class:`~sampler.Profile` (:attr:`profile`), made at
    :meth:`start` with the run's interval; the C writers write it. How samples
    get there depends on ``collect``:

    * ``collect=False`` (default): :meth:`drain` (called by :meth:`samples`,
      :meth:`stop` and the writers) takes the buffered samples in one C pass
      into both the Python list (:meth:`samples`) and the C profile. Call
      :meth:`drain` now and then in long runs, or samples beyond
      ``buffer_capacity`` are dropped.
    * ``collect=True``: a C collector thread drains the buffer into the C
      profile every ``collect_period_ms``, so nothing is lost to a full buffer
      and memory grows with distinct stacks only. No :class:`~sampler.Sample`
      objects are kept: :meth:`samples`, :meth:`top_functions` and
      :meth:`format_top` raise :class:`ValueError`; use the writers.

    When a run ends (:meth:`stop`, or the end of the ``with`` block) with
    samples dropped because the buffer was full (:attr:`Stats.dropped`), a
    :class:`~sampler.SamplerWarning` says how many and what to do.

    After :func:`os.fork` the run belongs to the parent: in the child this
    object is inactive (leaving the ``with`` block, garbage collection and
    interpreter exit do nothing there; :meth:`stop` raises
    :class:`~sampler.NotStartedError`), :meth:`drain` returns ``[]`` and the
    writers and :meth:`samples` give what was collected up to the fork (with
    ``collect=False``, up to the parent's last :meth:`drain`; samples still in
    the buffer are not copied). The child may :meth:`start` a run of its own.

    Methods may be called from any thread; :meth:`start`, :meth:`stop` and
    :meth:`drain` are serialized by a lock.

    Other arguments are those of :func:`sampler.start`.
    """

    def __init__(
        self,
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
        collect: bool = False,
        collect_period_ms: int = 100,
    ) -> None:
        # Check the arguments now, so a bad one fails at construction.
        self._interval_ns: int = _core._interval_ns(interval, interval_ns)
        if isinstance(collect_period_ms, bool) or not isinstance(collect_period_ms, int):
            raise TypeError("collect_period_ms must be an int")
        if not 1 <= collect_period_ms <= 60000:
            raise _core.InvalidArgumentError(
                -1, "Sampler", f"collect_period_ms must be 1..60000, got {collect_period_ms}")
        self._collect = bool(collect)
        self._period_ms = collect_period_ms
        self._profile: Optional[Profile] = None
        self._kwargs: Dict[str, Any] = dict(
            interval=interval,
            interval_ns=interval_ns,
            clock=clock,
            walker=walker,
            max_depth=max_depth,
            buffer_capacity=buffer_capacity,
            signo=signo,
            current_thread=current_thread,
            new_threads=new_threads,
            existing_threads=existing_threads,
        )
        self._samples: List[Sample] = []
        self._names: Dict[int, str] = {}
        self._profile_names: Dict[int, str] = {}  # the names given to _profile
        self._active = False
        self._pid = 0  # the process that started the current or last run
        self._final_stats: Optional[Stats] = None
        self._lock = threading.RLock()
        _core._fork_aware.add(self)

    def _after_fork_child(self) -> None:
        # A thread of the parent may have held the lock; it is not here.
        self._lock = threading.RLock()

    def _running(self) -> bool:
        # _active: the run this object started is on, in process _pid. In a
        # fork child the run is the parent's (the child's sampler is stopped).
        return self._active and self._pid == os.getpid()

    @property
    def profile(self) -> Optional[Profile]:
        """The C profile of the current or last run (``None`` before :meth:`start`)."""
        return self._profile

    @property
    def collect(self) -> bool:
        """Whether a C collector thread fills :attr:`profile` (see the class doc)."""
        return self._collect

    def start(self) -> "Sampler":
        """Start sampling (see :func:`sampler.start`); forgets earlier samples
        and makes a new :attr:`profile` (the previous one is closed)."""
        with self._lock:
            prof = Profile(interval_ns=self._interval_ns)
            try:
                _core.start(**self._kwargs)
            except BaseException:
                prof.close()
                raise
            if self._collect:
                try:
                    prof.start_collector(self._period_ms)
                except BaseException:
                    _core.stop()
                    prof.close()
                    raise
            if self._profile is not None:
                self._profile.close()
            self._profile = prof
            self._samples = []
            self._names = {}
            self._profile_names = {}
            self._final_stats = None
            self._pid = os.getpid()
            self._active = True
            return self

    def stop(self) -> None:
        """Stop sampling and collect the samples still buffered.

        Warns with :class:`~sampler.SamplerWarning` if samples were dropped
        because the buffer was full.

        Raises:
            NotStartedError: this Sampler is not running (in a fork child:
                the run is the parent's).
        """
        self._stop()

    def _stop(self) -> None:
        # Called by stop() and __exit__, so the warning's stacklevel (4)
        # points at the user's stop() call or ``with`` statement.
        with self._lock:
            if not self._running():
                why = None
                if self._active:
                    why = (f"this Sampler was started in process {self._pid}, before "
                           "fork(); the sampler of this child process is stopped")
                raise NotStartedError(-4, "Sampler.stop", why)
            try:
                _core.stop()
            finally:
                self._active = False
                try:
                    if self._collect and self._profile is not None:
                        self._profile.stop_collector()  # and drains what is left
                    else:
                        self.drain()
                except ProfileClosedError:
                    pass  # the user closed the profile: nothing to fill
                self._final_stats = _core.stats()
            st = self._final_stats
        if st.dropped > 0:
            self._warn_dropped(st)

    def _warn_dropped(self, st: Stats) -> None:
        cap = self._kwargs["buffer_capacity"]
        taken = st.samples + st.dropped
        if self._collect:
            what = (f"a shorter collect_period_ms (now {self._period_ms}) or a larger "
                    f"buffer_capacity (now {cap})")
        else:
            what = ("drain() more often, collect=True (a C thread drains for you), "
                    f"or a larger buffer_capacity (now {cap})")
        warnings.warn(
            SamplerWarning(
                f"sampler: {st.dropped} of {taken} samples (weight {st.dropped_weight} "
                f"of {st.weight + st.dropped_weight}) were dropped because the sample "
                f"buffer was full; to keep them use {what}"),
            stacklevel=4,
        )

    def pause(self) -> None:
        """Pause sampling (see :func:`sampler.pause`)."""
        _core.pause()

    def resume(self) -> None:
        """Resume sampling (see :func:`sampler.resume`)."""
        _core.resume()

    def drain(self) -> List[Sample]:
        """Move buffered samples into this object (the Python list and the C
        :attr:`profile`); returns the new ones. With ``collect=True`` they go
        into the C profile only and this returns ``[]``."""
        with self._lock:
            if self._pid != os.getpid():
                return []  # never started, or a fork child: the buffer is not this run's
            self._names.update(_core.thread_names())
            if self._profile is None:
                return []
            # the C writers label threads with their threading names
            for tid, name in self._names.items():
                if self._profile_names.get(tid) != name:
                    self._profile.set_thread_name(tid, name)
                    self._profile_names[tid] = name
            if self._collect:
                self._profile.drain()
                return []
            new = self._profile._drain_samples()
            self._samples.extend(new)
            return new

    def samples(self) -> List[Sample]:
        """Every sample collected so far (drains the buffer first while active).

        Raises:
            ValueError: with ``collect=True`` (samples live only in :attr:`profile`).
        """
        if self._collect:
            raise ValueError("Sampler(collect=True) keeps its samples only in the C profile: "
                             "use write_folded()/write_pprof()/write_svg() or .profile")
        if self._running():
            self.drain()
        return list(self._samples)

    def stats(self) -> Stats:
        """The library's counters; after :meth:`stop`, those of this run."""
        if self._final_stats is not None and not self._running():
            return self._final_stats
        return _core.stats()

    def thread_names(self) -> Dict[int, str]:
        """Native tid -> thread name for the threads sampled in this run."""
        if self._running():
            self._names.update(_core.thread_names())
        return dict(self._names)

    def top_functions(self, n: int = 10, *, per_thread: bool = True) -> Dict[int, List[FunctionShare]]:
        """:func:`sampler.top_functions` over :meth:`samples`."""
        return top_functions(self.samples(), n, per_thread=per_thread)

    def format_top(self, n: int = 10) -> str:
        """The top ``n`` native functions per thread, as text."""
        return format_top(self.top_functions(n), self.thread_names())

    def _written_profile(self, call: str) -> Profile:
        if self._profile is None:
            raise NotStartedError(-4, call, "this Sampler never ran: nothing to write")
        if self._running():
            self.drain()
        return self._profile

    def write(self, path: PathLike, format: Optional[str] = None, *,
              threads: bool = True) -> Format:
        """Write everything collected in any format of :func:`sampler.formats`
        (see :meth:`sampler.Profile.write`); returns the format written."""
        return self._written_profile("Sampler.write").write(path, format, threads=threads)

    def write_folded(self, path: PathLike, *, threads: bool = True) -> int:
        """Write everything collected as folded stacks (C writer; see
        :meth:`sampler.Profile.write_folded`). Threads are labelled with their
        :mod:`threading` names, ``MainThread (tid)``.
        Returns the number of lines written."""
        return self._written_profile("Sampler.write_folded").write_folded(path, threads=threads)

    def write_pprof(self, path: PathLike) -> None:
        """Write everything collected as gzip'd pprof (``go tool pprof``).

        Raises:
            UnsupportedError: libsampler was built without pprof support.
        """
        self._written_profile("Sampler.write_pprof").write_pprof(path)

    def write_svg(self, path: PathLike, *, threads: bool = True) -> None:
        """Write everything collected as a self-contained SVG flame graph."""
        self._written_profile("Sampler.write_svg").write_svg(path, threads=threads)

    def __enter__(self) -> "Sampler":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Any, tb: Any) -> None:
        # In a fork child the run is the parent's: nothing to stop.
        if self._running():
            self._stop()

    def __repr__(self) -> str:
        state = "active" if self._running() else "inactive"
        return f"<sampler.Sampler {state}, {len(self._samples)} samples collected>"


def profile(interval: Optional[float] = None, **kwargs: Any) -> Sampler:
    """A :class:`Sampler` to use as ``with sampler.profile(0.005) as p: ...``."""
    return Sampler(interval, **kwargs)
