"""The :class:`Sampler` object and :func:`profile`: a context manager around
the process-global sampler that keeps the samples it collected."""
from __future__ import annotations

import signal as _signal
from typing import Any, Dict, List, Optional, Type

from . import _core
from ._core import Sample, Stats
from ._report import FunctionShare, PathLike, format_top, top_functions, write_folded

__all__ = ["Sampler", "profile"]


class Sampler:
    """Settings for one sampling run, and the samples it collected.

    ``with Sampler(...) as s:`` starts sampling on entry and stops on exit;
    then :meth:`samples`, :meth:`top_functions` and :meth:`write_folded`
    work on everything collected. The C sampler is process-global, so only
    one :class:`Sampler` can be active at a time (a second raises
    :class:`~sampler.AlreadyStartedError`).

    Arguments are those of :func:`sampler.start`.
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
    ) -> None:
        # Check the arguments now, so a bad one fails at construction.
        _core._interval_ns(interval, interval_ns)
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

    def start(self) -> "Sampler":
        """Start sampling (see :func:`sampler.start`); forgets earlier samples."""
        _core.start(**self._kwargs)
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
            self.drain()
            self._final_stats = _core.stats()

    def pause(self) -> None:
        """Pause sampling (see :func:`sampler.pause`)."""
        _core.pause()

    def resume(self) -> None:
        """Resume sampling (see :func:`sampler.resume`)."""
        _core.resume()

    def drain(self) -> List[Sample]:
        """Move buffered samples into this object; returns the new ones."""
        new = _core.drain()
        self._samples.extend(new)
        self._names.update(_core.thread_names())
        return new

    def samples(self) -> List[Sample]:
        """Every sample collected so far (drains the buffer first while active)."""
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

    def write_folded(self, path: PathLike, *, thread_root: bool = True) -> int:
        """Write :meth:`samples` as folded stacks (pure Python; see
        :func:`sampler.write_folded`). Returns the number of lines."""
        return write_folded(path, self.samples(), thread_root=thread_root, names=self.thread_names())

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
