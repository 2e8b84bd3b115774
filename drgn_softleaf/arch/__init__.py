# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Architectures
-------------

The registry of page-table layouts: the only place that asks which
architecture a program is. A layout is pure bit logic (see
:mod:`drgn_softleaf.arch.x86_64` for the interface every layout provides).
"""

from typing import Any, Dict

from drgn import Architecture, Program

from drgn_softleaf.arch.x86_64 import X86_64_LAYOUT

__all__ = ("UnsupportedArchitecture", "arch_layout", "layout_for")

# Adding an architecture: one module with the same interface as
# x86_64.X86_64, and one line here.
_LAYOUTS: Dict[Architecture, Any] = {
    Architecture.X86_64: X86_64_LAYOUT,
}


class UnsupportedArchitecture(ValueError):
    """The program's architecture has no page-table layout yet."""


def layout_for(arch: Architecture) -> Any:
    """Return the layout registered for *arch*."""
    try:
        return _LAYOUTS[arch]
    except KeyError:
        supported = ", ".join(a.name.lower() for a in _LAYOUTS)
        raise UnsupportedArchitecture(
            f"architecture {arch.name.lower()} is not supported (supported: {supported})"
        ) from None


def arch_layout(prog: Program) -> Any:
    """Return the page-table layout for *prog*'s architecture."""
    if prog.platform is None:
        raise UnsupportedArchitecture("program has no platform")
    return layout_for(prog.platform.arch)
