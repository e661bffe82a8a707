"""sampler: per-thread CPU-time sampling of native stacks, over libsampler.

Every registered thread gets a POSIX timer on its own CPU clock; the signal
handler (C, on that thread) walks the *native* stack with frame pointers and
stores a sample. Python functions are not visible as such (the walker sees
the interpreter's C frames), but native hot spots that run with the GIL
released (zlib, hashlib, numpy...) show up under their C function names.

Quick use::

    import sampler
    with sampler.profile(interval=0.005) as p:
        work()                      # threads started here are sampled too
    print(p.format_top(5))          # top native functions per thread
    p.write_folded("out.folded")    # for flamegraph.pl / speedscope (C writer)
    p.write_pprof("cpu.pb.gz")      # for go tool pprof (gzip'd protobuf)
    p.write_svg("cpu.svg")          # a flame graph

Long runs: ``sampler.profile(collect=True)`` lets a C thread drain into the
run's C :class:`Profile`, so no sample is lost to a full buffer.

Lower level: :func:`start`, :func:`stop`, :func:`pause`, :func:`resume`,
:func:`register_thread`, :func:`drain`, :func:`stats`. Errors from the C
library raise a :class:`SamplerError` subclass per ``SAMPLER_E*`` code; a run
that dropped samples (full buffer) warns with :class:`SamplerWarning`.

fork(): the child's sampler starts stopped; a :class:`Sampler` or
``sampler.profile()`` block inherited from the parent is inactive there (the
``with`` block ends quietly) and its :class:`Profile` holds the samples
collected up to the fork.
"""
from __future__ import annotations

from ._core import (
    CLOCKS,
    WALKERS,
    Sample,
    Stats,
    drain,
    is_active,
    library_version,
    pause,
    reap_threads,
    register_all_threads,
    register_thread,
    register_tid,
    resume,
    samples,
    start,
    state,
    stats,
    stop,
    thread_names,
    unregister_thread,
    unregister_tid,
)
from ._errors import (
    AlreadyPausedError,
    AlreadyRegisteredError,
    AlreadyStartedError,
    BusyError,
    InvalidArgumentError,
    NoSuchThreadError,
    NotPausedError,
    NotRegisteredError,
    NotStartedError,
    OutOfMemoryError,
    SamplerError,
    SignalError,
    StructSizeError,
    SystemCallError,
    TimerLimitError,
    UnsupportedError,
    ProfileIOError,
    AlreadyCollectingError,
    NotCollectingError,
    ProfileClosedError,
    SamplerWarning,
)
from ._profile import Format, Profile, ProfileTotals, format_for_path, formats, profile_features
from ._report import (
    FunctionShare,
    folded_lines,
    format_top,
    top_functions,
    write,
    write_folded,
    write_pprof,
    write_svg,
)
from ._sampler_obj import Sampler, profile
from ._symbols import Symbol, frame_symbol, symbolize

__version__ = "0.1.0"

__all__ = [
    "AlreadyCollectingError",
    "AlreadyPausedError",
    "AlreadyRegisteredError",
    "AlreadyStartedError",
    "BusyError",
    "CLOCKS",
    "FunctionShare",
    "InvalidArgumentError",
    "NoSuchThreadError",
    "NotCollectingError",
    "NotPausedError",
    "NotRegisteredError",
    "NotStartedError",
    "OutOfMemoryError",
    "Profile",
    "ProfileClosedError",
    "ProfileIOError",
    "ProfileTotals",
    "Sample",
    "Sampler",
    "SamplerError",
    "SamplerWarning",
    "SignalError",
    "Stats",
    "StructSizeError",
    "Symbol",
    "SystemCallError",
    "TimerLimitError",
    "UnsupportedError",
    "WALKERS",
    "drain",
    "folded_lines",
    "format_top",
    "frame_symbol",
    "is_active",
    "library_version",
    "pause",
    "profile",
    "profile_features",
    "reap_threads",
    "register_all_threads",
    "register_thread",
    "register_tid",
    "resume",
    "samples",
    "start",
    "state",
    "stats",
    "stop",
    "symbolize",
    "thread_names",
    "top_functions",
    "unregister_thread",
    "unregister_tid",
    "write_folded",
    "write_pprof",
    "write_svg",
    "Format",
    "format_for_path",
    "formats",
    "write",
]
