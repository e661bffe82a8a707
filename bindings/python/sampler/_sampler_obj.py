"""The :class:`Sampler` object and :func:`profile`: a context manager around
the process-global sampler that keeps the samples it collected."""
from __future__ import annotations

import signal as _signal
from typing import Any, Dict, List, Optional, Type

from . import _core
from ._core import Sample, Stats
from ._errors import NotStartedError
from ._profile import Profile
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
        self._active = False
        self._final_stats: Optional[Stats] = None

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
        and makes a new :attr:`profile`."""
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
        self._final_stats = None
        self._active = True
        return self

    def stop(self) -> None:
        """Stop sampling and collect the samples still buffered."""
        if not self._active:
            raise _core.NotStartedError(-4, "Sampler.stop")
        try:
            _core.stop()
        finally:
            self._active = False
            if self._collect and self._profile is not None:
                self._profile.stop_collector()  # and drains what is left
            else:
                self.drain()
            self._final_stats = _core.stats()

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
        self._names.update(_core.thread_names())
        if self._profile is None:
            return []
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
        if self._active:
            self.drain()
        return list(self._samples)

    def stats(self) -> Stats:
        """The library's counters; after :meth:`stop`, those of this run."""
        if self._final_stats is not None and not self._active:
            return self._final_stats
        return _core.stats()

    def thread_names(self) -> Dict[int, str]:
        """Native tid -> thread name for the threads sampled in this run."""
        if self._active:
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
        if self._active:
            self.drain()
        return self._profile

    def write_folded(self, path: PathLike, *, threads: bool = True) -> int:
        """Write everything collected as folded stacks (C writer; see
        :meth:`sampler.Profile.write_folded`). Threads are labelled ``comm (tid)``;
        :func:`sampler.folded_lines` gives :mod:`threading` names instead.
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
        if self._active:
            self.stop()

    def __repr__(self) -> str:
        state = "active" if self._active else "inactive"
        return f"<sampler.Sampler {state}, {len(self._samples)} samples collected>"


def profile(interval: Optional[float] = None, **kwargs: Any) -> Sampler:
    """A :class:`Sampler` to use as ``with sampler.profile(0.005) as p: ...``."""
    return Sampler(interval, **kwargs)
