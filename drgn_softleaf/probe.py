# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Probes
------

The bottom floor: questions asked of the program itself (does the kernel
have this symbol, constant, type or member; is it running; what does its
VMCOREINFO say; how was it configured). Every other module asks them here,
and this module imports nothing of drgn-softleaf's.

>>> has_member(prog["init_mm"], "mm_mt")
True
"""

from typing import Callable, Dict, Mapping, Optional

from drgn import Object, Program, ProgramFlags

__all__ = (
    "has_constant",
    "has_member",
    "has_symbol",
    "has_type",
    "is_live",
    "is_local",
    "kconfig",
    "vmcoreinfo",
)


def _found(lookup: Callable[[str], object], name: str) -> bool:
    try:
        lookup(name)
    except LookupError:
        return False
    return True


def has_symbol(prog: Program, name: str) -> bool:
    """Whether the kernel has symbol *name*."""
    return _found(prog.symbol, name)


def has_constant(prog: Program, name: str) -> bool:
    """Whether the debug info has enum constant *name*."""
    return _found(prog.constant, name)


def has_type(prog: Program, name: str) -> bool:
    """Whether the debug info has type *name*."""
    return _found(prog.type, name)


def has_member(obj: Object, name: str) -> bool:
    """Whether *obj*'s type has member *name*."""
    try:
        obj.member_(name)
    except (LookupError, AttributeError, TypeError):
        return False
    return True


def is_live(prog: Program) -> bool:
    """Whether *prog* is a running kernel (its memory changes as it is read)."""
    return bool(prog.flags & ProgramFlags.IS_LIVE)


def is_local(prog: Program) -> bool:
    """Whether *prog* is the running kernel of this very machine
    (``/proc/kcore``), so that this process is one of its tasks."""
    return is_live(prog) and bool(prog.flags & ProgramFlags.IS_LOCAL)


def vmcoreinfo(prog: Program) -> Dict[str, str]:
    """The program's VMCOREINFO as a dictionary (empty if it has none)."""
    try:
        data = prog["VMCOREINFO"].string_().decode("ascii", "replace")
    except KeyError:
        return {}
    out = {}
    for line in data.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def kconfig(prog: Program) -> Optional[Mapping[str, str]]:
    """The kernel's configuration (IKCONFIG), or ``None`` without it."""
    from drgn.helpers.linux.kconfig import get_kconfig

    try:
        return get_kconfig(prog)
    except (LookupError, ValueError):
        return None
