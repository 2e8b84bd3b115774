# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Architectures
-------------

The registry of page-table layouts: the only place that asks which
architecture a program is. A layout is pure bit logic (see
:mod:`drgn_softleaf.arch.x86_64` for the interface every layout provides);
what an arm64 layout depends on is read from the program here.
"""

from typing import Any, Callable, Dict, Optional

from drgn import Architecture, FaultError, Program

from drgn_softleaf.arch.arm64 import PTE_PROT_NONE, SWAP_PTE_LAYOUTS, Arm64
from drgn_softleaf.arch.x86_64 import X86_64_LAYOUT
from drgn_softleaf.probe import has_constant, vmcoreinfo

__all__ = ("UnsupportedArchitecture", "arch_layout", "layout_for")

_CACHE_KEY = "drgn_softleaf.arch"


class UnsupportedArchitecture(ValueError):
    """The program's architecture has no page-table layout, or its layout
    cannot be worked out from the program."""


def _arm64_swap_layout(prog: Program) -> Any:
    """
    Which arm64 PTE era the kernel is, by what it does rather than its
    version:

    - ``protection_map[VM_NONE]`` is ``PAGE_NONE``, which holds
      ``PTE_PROT_NONE`` (bit 58) before v6.10 and ``PTE_PRESENT_INVALID``
      (bit 11) since (arch/arm64/mm/mmap.c; mm/mmap.c before v6.0; only the
      ``VM_EXEC`` entries and ``PTE_SHARED`` are adjusted at boot);
    - before v6.10, the swap PTE has an exclusive bit (and its type moved
      up one bit) where the kernel remembers ``PG_anon_exclusive``: both
      came in v5.19 (Linux kernel commit 570ef363509b "arm64/pgtable:
      support __HAVE_ARCH_PTE_SWP_EXCLUSIVE").
    """
    try:
        page_none = prog["protection_map"][0].value_()
        if isinstance(page_none, dict):  # pgprot_t is a struct.
            page_none = page_none["pgprot"]
    except (KeyError, LookupError, FaultError) as e:
        raise UnsupportedArchitecture(
            f"cannot tell this arm64 kernel's PTE layout: protection_map[] unreadable ({e})"
        ) from None
    if not page_none & PTE_PROT_NONE:
        return SWAP_PTE_LAYOUTS["present_invalid"]
    if has_constant(prog, "PG_anon_exclusive"):
        return SWAP_PTE_LAYOUTS["swp_exclusive"]
    return SWAP_PTE_LAYOUTS["prot_none"]


def _arm64(prog: Program) -> Arm64:
    info = vmcoreinfo(prog)
    # Before NUMBER(TCR_EL1_T1SZ) (v5.9), the VA size in use is the
    # kernel's vabits_actual variable (v5.4+).
    try:
        vabits_actual: Optional[int] = prog["vabits_actual"].value_()
    except (KeyError, LookupError, FaultError):
        vabits_actual = None
    try:
        return Arm64.from_vmcoreinfo(info, _arm64_swap_layout(prog), vabits_actual)
    except ValueError as e:
        raise UnsupportedArchitecture(f"arm64: {e}") from None


# Adding an architecture: one module with the same interface as
# x86_64.X86_64, and one line here (a function of the program, for a
# layout that depends on how the kernel was built and runs).
_LAYOUTS: Dict[Architecture, Callable[[Program], Any]] = {
    Architecture.X86_64: lambda prog: X86_64_LAYOUT,
    Architecture.AARCH64: _arm64,
}


def layout_for(arch: Architecture) -> Callable[[Program], Any]:
    """Return the layout maker registered for *arch*."""
    try:
        return _LAYOUTS[arch]
    except KeyError:
        supported = ", ".join(a.name.lower() for a in _LAYOUTS)
        raise UnsupportedArchitecture(
            f"architecture {arch.name.lower()} is not supported (supported: {supported})"
        ) from None


def arch_layout(prog: Program) -> Any:
    """Return the page-table layout of *prog* (cached in ``prog.cache``)."""
    try:
        return prog.cache[_CACHE_KEY]
    except KeyError:
        pass
    if prog.platform is None:
        raise UnsupportedArchitecture("program has no platform")
    layout = layout_for(prog.platform.arch)(prog)
    prog.cache[_CACHE_KEY] = layout
    return layout
