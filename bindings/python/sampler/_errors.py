"""Exceptions: one :class:`SamplerError` subclass per ``SAMPLER_E*`` code."""
from __future__ import annotations

from typing import Dict, Optional, Type

from _sampler import ffi, lib

__all__ = [
    "SamplerError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "AlreadyStartedError",
    "NotStartedError",
    "AlreadyPausedError",
    "NotPausedError",
    "TimerLimitError",
    "NoSuchThreadError",
    "AlreadyRegisteredError",
    "NotRegisteredError",
    "SignalError",
    "SystemCallError",
    "StructSizeError",
    "BusyError",
    "UnsupportedError",
    "ProfileIOError",
    "AlreadyCollectingError",
    "NotCollectingError",
    "ProfileClosedError",
    "SamplerWarning",
]


class SamplerError(Exception):
    """A libsampler call failed.

    Attributes:
        code: the negative ``SAMPLER_E*`` code the C call returned.
        name: its name, e.g. ``"SAMPLER_ENOTSTARTED"`` (``sampler_err_name``).
        message: the C library's explanation (``sampler_strerror``).
        call: the C function that failed, when known.
    """

    #: the ``SAMPLER_E*`` code of this class (``None`` for the base class)
    CODE: Optional[int] = None

    def __init__(self, code: int, call: Optional[str] = None, message: Optional[str] = None):
        self.code: int = code
        self.name: str = ffi.string(lib.sampler_err_name(code)).decode()
        self.message: str = message or ffi.string(lib.sampler_strerror(code)).decode()
        self.call: Optional[str] = call
        where = f"{call}: " if call else ""
        super().__init__(f"{where}{self.message} ({self.name})")


class InvalidArgumentError(SamplerError, ValueError):
    """``SAMPLER_EINVAL``: an argument is out of range (also a :class:`ValueError`)."""

    CODE = -1


class OutOfMemoryError(SamplerError, MemoryError):
    """``SAMPLER_ENOMEM``: the library could not allocate memory."""

    CODE = -2


class AlreadyStartedError(SamplerError):
    """``SAMPLER_ESTARTED``: the sampler is already started; call :func:`sampler.stop` first."""

    CODE = -3


class NotStartedError(SamplerError):
    """``SAMPLER_ENOTSTARTED``: the sampler is not started; call :func:`sampler.start` first."""

    CODE = -4


class AlreadyPausedError(SamplerError):
    """``SAMPLER_EPAUSED``: the sampler is already paused."""

    CODE = -5


class NotPausedError(SamplerError):
    """``SAMPLER_ENOTPAUSED``: :func:`sampler.resume` without :func:`sampler.pause`."""

    CODE = -6


class TimerLimitError(SamplerError):
    """``SAMPLER_ETIMERLIMIT``: the per-user POSIX timer limit (``RLIMIT_SIGPENDING``,
    ``ulimit -i``) is reached. Threads already registered keep being sampled."""

    CODE = -7


class NoSuchThreadError(SamplerError):
    """``SAMPLER_ENOTHREAD``: no such thread in this process (it may have exited)."""

    CODE = -8


class AlreadyRegisteredError(SamplerError):
    """``SAMPLER_EREGISTERED``: the thread is already registered."""

    CODE = -9


class NotRegisteredError(SamplerError):
    """``SAMPLER_ENOTREGISTERED``: the thread is not registered."""

    CODE = -10


class SignalError(SamplerError):
    """``SAMPLER_ESIGNAL``: the signal cannot be used for sampling."""

    CODE = -11


class SystemCallError(SamplerError):
    """``SAMPLER_ESYSTEM``: a system call failed unexpectedly."""

    CODE = -12


class StructSizeError(SamplerError):
    """``SAMPLER_ESTRUCTSIZE``: header/library struct size mismatch (a build problem)."""

    CODE = -13


class BusyError(SamplerError):
    """``SAMPLER_EBUSY``: not allowed from inside a drain."""

    CODE = -14


class UnsupportedError(SamplerError):
    """``SAMPLER_EUNSUPPORTED``: not built into this copy of libsampler, e.g.
    pprof output without protobuf-c (see :func:`sampler.profile_features`)."""

    CODE = -15


class ProfileIOError(SamplerError):
    """``SAMPLER_EIO``: a profile file could not be created or written.

    Attributes:
        errno: the C ``errno`` after the failed call (0 if unknown).
        filename: the file, when known.
    """

    CODE = -16

    def __init__(self, code: int, call: Optional[str] = None, message: Optional[str] = None,
                 errno: int = 0, filename: Optional[str] = None):
        self.errno: int = errno
        self.filename: Optional[str] = filename
        if message is None and (errno or filename):
            import os

            base = ffi.string(lib.sampler_strerror(code)).decode()
            why = f": {os.strerror(errno)}" if errno else ""
            where = f" ({filename})" if filename else ""
            message = f"{base}{why}{where}"
        super().__init__(code, call, message)


class AlreadyCollectingError(SamplerError):
    """``SAMPLER_ECOLLECTING``: the profile's collector thread is already running."""

    CODE = -17


class NotCollectingError(SamplerError):
    """``SAMPLER_ENOTCOLLECTING``: the profile's collector thread is not running."""

    CODE = -18


class ProfileClosedError(ValueError):
    """A method of a :class:`sampler.Profile` was called after (or while)
    :meth:`~sampler.Profile.close` freed it. Not a :class:`SamplerError`: no C
    call failed, the Python object refuses to hand out a freed C profile."""


class SamplerWarning(RuntimeWarning):
    """A run lost data the user should know about, e.g. samples dropped
    because the sample buffer was full (:attr:`sampler.Stats.dropped`).
    Raised through :func:`warnings.warn`, so the usual filters apply
    (``warnings.simplefilter("error", sampler.SamplerWarning)`` in tests)."""


_BY_CODE: Dict[int, Type[SamplerError]] = {
    cls.CODE: cls
    for cls in (
        InvalidArgumentError,
        OutOfMemoryError,
        AlreadyStartedError,
        NotStartedError,
        AlreadyPausedError,
        NotPausedError,
        TimerLimitError,
        NoSuchThreadError,
        AlreadyRegisteredError,
        NotRegisteredError,
        SignalError,
        SystemCallError,
        StructSizeError,
        BusyError,
        UnsupportedError,
        ProfileIOError,
        AlreadyCollectingError,
        NotCollectingError,
    )
}


def error_for(code: int, call: Optional[str] = None, message: Optional[str] = None) -> SamplerError:
    """The exception for a negative ``SAMPLER_E*`` code (the base class for an unknown one)."""
    return _BY_CODE.get(code, SamplerError)(code, call, message)


def check(rc: int, call: str) -> int:
    """Return ``rc`` if it is >= 0, else raise the matching :class:`SamplerError`."""
    if rc < 0:
        raise error_for(rc, call)
    return rc
