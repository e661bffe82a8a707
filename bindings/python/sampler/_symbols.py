"""Symbolization of native program counters with ``dladdr()`` (through cffi).

``dladdr`` only sees a module's *dynamic* symbol table. Exported functions
(``deflate``, ``adler32_z`` in libz, ``_PyEval_EvalFrameDefault`` in python3)
get their names; ``static`` functions of a stripped distro library (libz's
``deflate_slow``, ``longest_match``) do not: they are reported by module,
as ``[libz.so.1.2.13]``, with the exact offset kept in :attr:`Symbol.offset`.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Dict, Optional

from _sampler import ffi, lib

__all__ = ["Symbol", "symbolize", "frame_symbol"]


@dataclass(frozen=True)
class Symbol:
    """What ``dladdr`` knows about one program counter.

    Attributes:
        pc: the address looked up.
        module: path of the shared object or executable holding it ("" if none).
        offset: ``pc`` minus the module's load address (0 if no module).
        name: the dynamic symbol covering ``pc``, or ``None``.
        symbol_offset: ``pc`` minus the symbol's start (0 if no symbol).
    """

    pc: int
    module: str
    offset: int
    name: Optional[str]
    symbol_offset: int

    @property
    def module_name(self) -> str:
        """The module's file name without its directory."""
        return os.path.basename(self.module)

    @property
    def label(self) -> str:
        """A short frame name for reports and folded stacks: the function name,
        else ``[module]``, else the hex address."""
        if self.name:
            return self.name
        if self.module:
            return f"[{self.module_name}]"
        return f"0x{self.pc:x}"

    def __str__(self) -> str:
        if self.name:
            where = f" ({self.module_name})" if self.module else ""
            return f"{self.name}+0x{self.symbol_offset:x}{where}"
        if self.module:
            return f"{self.module_name}+0x{self.offset:x}"
        return f"0x{self.pc:x}"


_cache: Dict[int, Symbol] = {}
_lock = threading.Lock()


def symbolize(pc: int) -> Symbol:
    """Look ``pc`` up with ``dladdr`` (results are cached per address).

    Args:
        pc: a code address in this process.
    Returns:
        the :class:`Symbol`; unknown addresses give ``module == ""``.
    """
    with _lock:
        sym = _cache.get(pc)
    if sym is not None:
        return sym
    info = ffi.new("Dl_info *")
    module, offset, name, soff = "", 0, None, 0
    if pc and lib.dladdr(ffi.cast("void *", pc), info) != 0:
        if info.dli_fname != ffi.NULL:
            module = ffi.string(info.dli_fname).decode(errors="replace")
            offset = pc - int(ffi.cast("uintptr_t", info.dli_fbase))
        if info.dli_sname != ffi.NULL:
            name = ffi.string(info.dli_sname).decode(errors="replace")
            soff = pc - int(ffi.cast("uintptr_t", info.dli_saddr))
    sym = Symbol(pc, module, offset, name, soff)
    with _lock:
        _cache[pc] = sym
    return sym


def frame_symbol(pc: int, index: int) -> Symbol:
    """Symbolize frame ``index`` of a sample's ``pcs``.

    Frame 0 is the interrupted instruction; the others are return addresses,
    which point just *after* a call and may already lie in the next function,
    so they are looked up at ``pc - 1``. The returned symbol keeps that
    adjusted address.
    """
    return symbolize(pc if index == 0 or pc == 0 else pc - 1)
