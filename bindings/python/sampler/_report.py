"""Reports and profile writers.

``top_functions``/``format_top``/``folded_lines`` are pure Python: they work
on :class:`~sampler.Sample` lists and name frames with ``dladdr``
(:mod:`sampler._symbols`), with :mod:`threading` names for thread roots.

``write_folded``, ``write_pprof`` and ``write_svg`` are C-backed: the samples
go into a temporary C profile (:class:`sampler.Profile`, ``profile.h``) whose
writers name frames with libdw (static functions, file:line) when the library
has it. The C writers label threads ``name (tid)`` (see :mod:`sampler._profile`);
the pure-Python ``folded_lines`` is kept for :mod:`threading` names.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ._core import Sample, thread_names
from ._profile import Format, Profile
from ._symbols import frame_symbol

__all__ = [
    "FunctionShare",
    "top_functions",
    "format_top",
    "folded_lines",
    "write_folded",
    "write_pprof",
    "write_svg",
]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class FunctionShare:
    """One line of :func:`top_functions`.

    Attributes:
        function: frame label (function name, or ``[module]`` when the module
            exports no symbol covering the address).
        module: the module's file name (``""`` if unknown).
        weight: summed sample weight with this function innermost.
        share: ``weight`` over the thread's total weight (0..1).
    """

    function: str
    module: str
    weight: int
    share: float


def top_functions(
    samples: Iterable[Sample], n: int = 10, *, per_thread: bool = True
) -> Dict[int, List[FunctionShare]]:
    """The native functions the samples landed in (innermost frame), heaviest first.

    Args:
        samples: drained samples.
        n: how many functions per thread (0: all).
        per_thread: one list per native tid; if false, a single list under key 0.
    Returns:
        tid (or 0) -> up to ``n`` :class:`FunctionShare`, by weight.
    """
    by: Dict[int, Dict[Tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for s in samples:
        key = s.tid if per_thread else 0
        if s.pcs:
            sym = frame_symbol(s.pcs[0], 0)
            by[key][(sym.label, sym.module_name)] += s.weight
        else:
            by[key][("[no frames]", "")] += s.weight
    out: Dict[int, List[FunctionShare]] = {}
    for tid, funcs in sorted(by.items()):
        total = sum(funcs.values()) or 1
        ranked = sorted(funcs.items(), key=lambda kv: (-kv[1], kv[0]))
        if n:
            ranked = ranked[:n]
        out[tid] = [FunctionShare(f, m, w, w / total) for (f, m), w in ranked]
    return out


def format_top(
    top: Mapping[int, List[FunctionShare]], names: Optional[Mapping[int, str]] = None
) -> str:
    """Render :func:`top_functions` as text, one block per thread."""
    names = thread_names() if names is None else names
    lines: List[str] = []
    for tid, funcs in top.items():
        total = sum(f.weight for f in funcs)
        title = f"thread {tid}" + (f" ({names[tid]})" if tid in names else "")
        lines.append(f"{title}: top {len(funcs)} functions, weight {total} shown")
        for f in funcs:
            where = f"  {f.module}" if f.module and not f.function.startswith("[") else ""
            lines.append(f"  {f.share * 100:5.1f}%  {f.weight:6d}  {f.function}{where}")
    return "\n".join(lines)


def _frame_text(text: str) -> str:
    # folded format: ';' separates frames, the last space separates the count
    return text.replace(";", ":").replace("\n", " ").replace(" ", "_") or "?"


def folded_lines(
    samples: Iterable[Sample],
    *,
    thread_root: bool = True,
    names: Optional[Mapping[int, str]] = None,
) -> List[str]:
    """Aggregate samples into folded stacks (``root;caller;callee weight``).

    Args:
        samples: drained samples.
        thread_root: start each stack with the thread (``name-tid``).
        names: tid -> thread name (default: :func:`sampler.thread_names`).
    Returns:
        sorted lines without newlines, as flamegraph.pl, inferno and speedscope read them.
    """
    names = thread_names() if names is None else names
    agg: Dict[Tuple[str, ...], int] = defaultdict(int)
    for s in samples:
        frames = [_frame_text(frame_symbol(pc, i).label) for i, pc in enumerate(s.pcs)]
        frames.reverse()  # outermost first
        if not frames:
            frames = ["[no_frames]"]
        if thread_root:
            nm = names.get(s.tid)
            frames.insert(0, _frame_text(f"{nm}-{s.tid}" if nm else f"tid-{s.tid}"))
        agg[tuple(frames)] += s.weight
    return sorted(f"{';'.join(k)} {w}" for k, w in agg.items())


def _profile_of(samples: Optional[Iterable[Sample]]) -> Profile:
    prof = Profile()
    try:
        if samples is None:
            prof.drain()
        else:
            prof.add(samples)
    except BaseException:
        prof.close()
        raise
    return prof


def write(
    path: PathLike,
    samples: Optional[Iterable[Sample]] = None,
    format: Optional[str] = None,
    *,
    threads: bool = True,
) -> Format:
    """Write a profile in any format of :func:`sampler.formats` with
    libsampler's C writers (:meth:`sampler.Profile.write`).

    Args:
        path: file to create or truncate.
        samples: drained samples; ``None`` drains the sampler's buffer now.
        format: a format name; None: the file name's ending selects it.
        threads: root each stack at its thread.
    Returns:
        the format written.
    """
    with _profile_of(samples) as prof:
        return prof.write(path, format, threads=threads)


def write_folded(
    path: PathLike, samples: Optional[Iterable[Sample]] = None, *, threads: bool = True
) -> int:
    """Write folded stacks (``root;caller;...;leaf weight``) with libsampler's C writer.

    Args:
        path: file to create or truncate.
        samples: drained samples; ``None`` drains the sampler's buffer now
            (those samples are consumed: :func:`sampler.drain` will not see them).
        threads: root each stack at its thread, ``name (tid)``.
    Returns:
        the number of lines written.
    Raises:
        ProfileIOError: the file could not be written.
    """
    with _profile_of(samples) as prof:
        return prof.write_folded(path, threads=threads)


def write_pprof(path: PathLike, samples: Optional[Iterable[Sample]] = None) -> None:
    """Write a gzip'd pprof protobuf profile (``go tool pprof FILE``).

    Args: as for :func:`write_folded`. The pprof period is the running
    sampler's interval (10 ms if it never ran).
    Raises:
        UnsupportedError: libsampler was built without pprof support.
        ProfileIOError: the file could not be written.
    """
    with _profile_of(samples) as prof:
        prof.write_pprof(path)


def write_svg(
    path: PathLike, samples: Optional[Iterable[Sample]] = None, *, threads: bool = True
) -> None:
    """Write a self-contained SVG flame graph. Args: as for :func:`write_folded`."""
    with _profile_of(samples) as prof:
        prof.write_svg(path, threads=threads)
