"""Reports and profile writers built in Python from drained samples.

``write_folded`` is pure Python: it aggregates :class:`~sampler.Sample`
stacks and names frames with ``dladdr`` (:mod:`sampler._symbols`).

When libsampler's C profile API (``include/sampler/profile.h``: aggregation,
libdw symbols, folded and gzip'd pprof writers) is available, ``write_pprof``
and a C-backed ``write_folded`` will be added here with the same shape
(``write_xxx(path, samples=None, ...)``), and ``sampler_build.py`` will
declare that API in its cdef; the Python writer stays as the fallback.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ._core import Sample, thread_names
from ._symbols import frame_symbol

__all__ = ["FunctionShare", "top_functions", "format_top", "folded_lines", "write_folded"]

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


def write_folded(
    path: PathLike,
    samples: Iterable[Sample],
    *,
    thread_root: bool = True,
    names: Optional[Mapping[int, str]] = None,
) -> int:
    """Write a folded-stacks profile (pure Python, ``dladdr`` names).

    Args:
        path: output file.
        samples: drained samples.
        thread_root, names: as for :func:`folded_lines`.
    Returns:
        the number of lines written.
    """
    lines = folded_lines(samples, thread_root=thread_root, names=names)
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    return len(lines)
