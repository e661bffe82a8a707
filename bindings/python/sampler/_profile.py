""":class:`Profile`: a C ``sampler_profile`` (``include/sampler/profile.h``).

A profile aggregates samples by (thread, stack) in C, names the frames when it
is written (libdw when the library was built with it, else ``dladdr``) and
writes folded stacks, gzip'd pprof protobuf or an SVG flame graph. Memory grows
with the number of distinct stacks, not with the number of samples.

Thread labels in these C-written files are ``name (tid)``: the name given with
:meth:`Profile.set_thread_name` (a :class:`~sampler.Sampler` gives each
registered thread its :mod:`threading` name), else the kernel's thread name
read from ``/proc/self/task/TID/comm`` when the profile first sees the thread
(``python3`` for Python threads; ``[exited]`` if it is gone by then).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, FrozenSet, Iterable, Iterator, List, Optional, Union

from _sampler import ffi, lib

from . import _core
from ._core import Sample, _drain
from ._errors import (
    InvalidArgumentError,
    ProfileClosedError,
    ProfileIOError,
    UnsupportedError,
    check,
)

__all__ = ["Format", "Profile", "ProfileTotals", "format_for_path", "formats", "profile_features"]

PathLike = Union[str, "os.PathLike[str]"]


def profile_features() -> FrozenSet[str]:
    """The optional parts this copy of libsampler was built with
    (``sampler_profile_features()``): a subset of ``{"libdw", "pprof"}``.

    Without ``"pprof"``, :meth:`Profile.write_pprof` raises
    :class:`~sampler.UnsupportedError`; without ``"libdw"``, frames are named
    with ``dladdr`` (exported symbols only)."""
    f = lib.sampler_profile_features()
    out = set()
    if f & lib.SAMPLER_PROFILE_HAVE_LIBDW:
        out.add("libdw")
    if f & lib.SAMPLER_PROFILE_HAVE_PPROF:
        out.add("pprof")
    return frozenset(out)


@dataclass(frozen=True)
class Format:
    """A file format of :meth:`Profile.write` (a row of libsampler-profile's
    format table, ``sampler_profile_format``)."""

    name: str  #: e.g. ``"pprof"``
    extension: str  #: the file name ending that selects it, e.g. ``".pb.gz"``
    description: str  #: what it is and what reads it
    available: bool  #: this copy of libsampler can write it


def _format(row: Any) -> Format:
    return Format(
        ffi.string(row.name).decode(),
        ffi.string(row.extension).decode(),
        ffi.string(row.description).decode(),
        bool(row.available),
    )


def formats() -> List[Format]:
    """Every format :meth:`Profile.write` knows, the default first."""
    out = []
    i = 0
    while True:
        row = lib.sampler_profile_format_at(i)
        if row == ffi.NULL:
            return out
        out.append(_format(row))
        i += 1


def format_for_path(path: PathLike) -> Optional[Format]:
    """The format a file name selects by its ending, or None."""
    row = lib.sampler_profile_format_for_path(_path_bytes(path))
    return None if row == ffi.NULL else _format(row)


@dataclass(frozen=True)
class ProfileTotals:
    """What a :class:`Profile` holds (``sampler_profile_totals``)."""

    samples: int  #: samples added
    weight: int  #: sum of their weights
    stacks: int  #: distinct (thread, stack) entries
    threads: int  #: distinct threads
    interval_ns: int  #: nanoseconds per unit of weight


def _path_bytes(path: PathLike) -> bytes:
    return os.fsencode(os.fspath(path))


def _flags(threads: bool, addresses: bool = False) -> int:
    return (lib.SAMPLER_PROFILE_THREADS if threads else 0) | (
        lib.SAMPLER_PROFILE_ADDRESSES if addresses else 0
    )


class Profile:
    """A C profile: samples aggregated by (thread, stack), and its writers.

    Fill it with :meth:`add` (samples drained in Python), :meth:`drain` (the
    sampler's buffer, directly in C) or a background collector thread
    (:meth:`start_collector` / :meth:`stop_collector`), then write it with
    :meth:`write_folded`, :meth:`write_pprof` or :meth:`write_svg`. Every
    method may be called from any thread; C work runs without the GIL.
    The C profile is freed by :meth:`close` (or ``with``, or garbage
    collection); :meth:`close` waits for calls under way in other threads,
    and every method called after it raises :class:`~sampler.ProfileClosedError`.

    After :func:`os.fork` the child holds a copy with the samples added up to
    the fork: it can write, reset or close it, or ignore it. A collector
    thread is not copied (:meth:`stop_collector` raises
    :class:`~sampler.NotCollectingError` in the child).

    Args:
        interval_ns: nanoseconds one unit of weight stands for (the pprof
            period). Default: the running sampler's interval, or 10 ms.
    """

    def __init__(self, interval_ns: Optional[int] = None) -> None:
        opt = ffi.new("sampler_profile_options *")
        check(lib.sampler_profile_options_init(opt, ffi.sizeof("sampler_profile_options")),
              "sampler_profile_options_init")
        if interval_ns is not None:
            if isinstance(interval_ns, bool) or not isinstance(interval_ns, int):
                raise TypeError(f"interval_ns must be an int, not {type(interval_ns).__name__}")
            if interval_ns <= 0:
                raise InvalidArgumentError(-1, "Profile", f"interval_ns must be > 0, got {interval_ns}")
            opt.interval_ns = interval_ns
        # Calls under way (_users) keep the C profile alive: close() marks it
        # closing, so no new call starts, and waits for them under _cv.
        self._cv = threading.Condition(threading.Lock())
        self._users = 0
        self._closing = False
        self._p: Any = None
        out = ffi.new("sampler_profile **")
        check(lib.sampler_profile_new(out, opt), "sampler_profile_new")
        self._p = ffi.gc(out[0], lib.sampler_profile_free)
        _core._fork_aware.add(self)

    def _after_fork_child(self) -> None:
        # Threads of the parent that were inside a method, or closing, are
        # not in the child: forget them. The C profile's own locks are made
        # consistent by libsampler's fork handlers.
        self._cv = threading.Condition(threading.Lock())
        self._users = 0
        self._closing = False

    @contextmanager
    def _use(self) -> Iterator[Any]:
        """The C pointer, kept valid (not freed by :meth:`close`) until the
        ``with`` block ends."""
        with self._cv:
            p = self._p
            if p is None or self._closing:
                raise ProfileClosedError("the profile is closed (Profile.close() freed it)")
            self._users += 1
        try:
            yield p
        finally:
            with self._cv:
                self._users -= 1
                if self._users == 0:
                    self._cv.notify_all()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has begun (methods raise
        :class:`~sampler.ProfileClosedError`)."""
        return self._p is None or self._closing

    def close(self) -> None:
        """Free the C profile (stopping its collector first, with a final drain).

        Calls under way in other threads (a write, say) finish first; calls
        made afterwards raise :class:`~sampler.ProfileClosedError`. Closing
        twice does nothing. Do not call it from inside this profile's own
        methods (nothing in the binding does)."""
        with self._cv:
            self._closing = True
            while self._users and self._p is not None:
                self._cv.wait()
            p, self._p = self._p, None
        if p is not None:
            ffi.release(p)

    def __enter__(self) -> "Profile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def add(self, samples: Iterable[Sample]) -> int:
        """Add samples drained in Python (each :class:`~sampler.Sample` becomes a
        ``sampler_sample`` for ``sampler_profile_add``). Returns how many."""
        cs = ffi.new("sampler_sample *")
        n = 0
        with self._use() as p:
            for s in samples:
                pcs = ffi.new("uintptr_t[]", s.pcs) if s.pcs else ffi.NULL
                cs.tid = s.tid
                cs.depth = len(s.pcs)
                cs.time_ns = s.time_ns
                cs.weight = s.weight
                cs.pcs = pcs
                check(lib.sampler_profile_add(p, cs), "sampler_profile_add")
                n += 1
        return n

    def drain(self) -> int:
        """Move every buffered sample from the sampler into this profile, in C
        (``sampler_profile_drain``); they are not returned to Python. Returns how many."""
        with self._use() as p:
            return check(lib.sampler_profile_drain(p), "sampler_profile_drain")

    def _drain_samples(self, max: int = 0) -> "list[Sample]":
        # Drain into Python *and* into this profile, in one C pass.
        with self._use() as p:
            return _drain(max, p)

    def reset(self) -> None:
        """Forget every sample and thread (the symbol cache is kept)."""
        with self._use() as p:
            check(lib.sampler_profile_reset(p), "sampler_profile_reset")

    def totals(self) -> ProfileTotals:
        """Samples, weight, distinct stacks and threads held."""
        t = ffi.new("sampler_profile_totals *")
        with self._use() as p:
            check(lib.sampler_profile_get_totals(p, t, ffi.sizeof("sampler_profile_totals")),
                  "sampler_profile_get_totals")
        return ProfileTotals(t.samples, t.weight, t.stacks, t.threads, t.interval_ns)

    def start_collector(self, period_ms: int = 100) -> None:
        """Start a C thread that drains the sampler into this profile every
        ``period_ms`` (1..60000) milliseconds, so a long run loses nothing to a
        full buffer (size ``buffer_capacity`` for one period of samples).

        Raises:
            AlreadyCollectingError: the collector already runs.
            InvalidArgumentError: ``period_ms`` out of range.
        """
        if isinstance(period_ms, bool) or not isinstance(period_ms, int):
            raise TypeError(f"period_ms must be an int, not {type(period_ms).__name__}")
        if not 1 <= period_ms <= 60000:
            raise InvalidArgumentError(-1, "sampler_profile_collector_start",
                                       f"period_ms must be 1..60000, got {period_ms}")
        with self._use() as p:
            check(lib.sampler_profile_collector_start(p, period_ms),
                  "sampler_profile_collector_start")

    def stop_collector(self) -> None:
        """Stop the collector thread and drain once more.

        Raises:
            NotCollectingError: no collector runs (in a fork child: the
                collector was the parent's; the child has none to stop).
        """
        with self._use() as p:
            check(lib.sampler_profile_collector_stop(p), "sampler_profile_collector_stop")

    def _write(self, rc: int, call: str, path: PathLike) -> None:
        err = ffi.errno
        if rc == ProfileIOError.CODE:
            raise ProfileIOError(rc, call, errno=err, filename=os.fspath(path))
        check(rc, call)

    def set_thread_name(self, tid: int, name: str) -> None:
        """Label thread ``tid``'s stacks ``name (tid)`` in every writer
        (``sampler_profile_set_thread_name()``), also after the thread exited."""
        with self._use() as p:
            check(lib.sampler_profile_set_thread_name(p, tid, name.encode("utf-8", "replace")),
                  "sampler_profile_set_thread_name")

    def write(
        self,
        path: PathLike,
        format: Optional[str] = None,
        *,
        threads: bool = True,
        addresses: bool = False,
    ) -> Format:
        """Write the profile in any format of :func:`formats`
        (``sampler_profile_write()``).

        Args:
            path: file to create or truncate.
            format: a format name; None: the one the file name's ending
                selects (:func:`format_for_path`), else folded.
            threads: root each stack at its thread (folded, SVG, ...).
            addresses: raw addresses instead of names (folded, SVG).
        Returns:
            the format written.
        Raises:
            InvalidArgumentError: ``format`` names no format.
            UnsupportedError: this libsampler cannot write that format
                (``Format.available`` is false).
            ProfileIOError: the file could not be written.
        """
        if format is not None:
            row = lib.sampler_profile_format_find(format.encode())
            if row == ffi.NULL:
                raise InvalidArgumentError(
                    InvalidArgumentError.CODE,  # type: ignore[arg-type]
                    "sampler_profile_write",
                    "unknown format %r (formats: %s)"
                    % (format, ", ".join(f.name for f in formats())),
                )
        else:
            row = lib.sampler_profile_format_for_path(_path_bytes(path))
            if row == ffi.NULL:
                row = lib.sampler_profile_format_at(0)  # the default
        fmt = _format(row)
        if not fmt.available:
            raise UnsupportedError(
                UnsupportedError.CODE,  # type: ignore[arg-type]
                "sampler_profile_write",
                "this libsampler cannot write %s: it was built without what the format needs "
                "(see configure's summary); use another format (%s)"
                % (fmt.name, ", ".join(f.name for f in formats() if f.available)),
            )
        with self._use() as p:
            self._write(lib.sampler_profile_write(p, _path_bytes(path), fmt.name.encode(),
                                                  _flags(threads, addresses)),
                        "sampler_profile_write", path)
        return fmt

    def write_folded(self, path: PathLike, *, threads: bool = True, addresses: bool = False) -> int:
        """Write folded stacks, ``root;caller;...;leaf weight`` (C writer).

        Args:
            path: file to create or truncate.
            threads: root each stack at its thread, ``name (tid)``.
            addresses: raw addresses instead of names.
        Returns:
            the number of lines (distinct stacks) written.
        Raises:
            ProfileIOError: the file could not be written (``.errno`` says why).
        """
        self.write(path, "folded", threads=threads, addresses=addresses)
        with open(path, "rb") as f:
            return sum(1 for _ in f)

    def write_pprof(self, path: PathLike) -> None:
        """Write a gzip'd pprof protobuf profile (``go tool pprof FILE``):
        sample types ``samples/count`` and ``cpu/nanoseconds``, labels
        ``thread`` and ``tid``.

        Raises:
            UnsupportedError: libsampler was built without pprof support
                (see :func:`profile_features`).
            ProfileIOError: the file could not be written.
        """
        self.write(path, "pprof")

    def write_svg(self, path: PathLike, *, threads: bool = True, addresses: bool = False) -> None:
        """Write an SVG flame graph: one file, interactive in a browser (zoom, search).

        Args: as for :meth:`write_folded`.
        Raises:
            ProfileIOError: the file could not be written.
        """
        self.write(path, "svg", threads=threads, addresses=addresses)

    def __repr__(self) -> str:
        try:
            t = self.totals()
        except ProfileClosedError:
            return "<sampler.Profile closed>"
        return f"<sampler.Profile {t.samples} samples, weight {t.weight}, {t.stacks} stacks>"
