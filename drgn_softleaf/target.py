# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Target kernel
-------------

What the kernel behind a program is, as far as leaf entries are concerned:
paging levels, physical address bits, the memory-encryption mask and the
swap type table. Worked out once per program by probing (IKCONFIG when the
kernel has it, otherwise symbols, types and enum constants; never version
numbers) and cached in ``prog.cache``.
"""

from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Tuple

from drgn import FaultError, Program

from drgn_softleaf.arch import arch_layout
from drgn_softleaf.leafops import Leafops, SwapTypeTable
from drgn_softleaf.probe import has_constant, has_symbol, kconfig, vmcoreinfo

__all__ = (
    "Target",
    "TargetError",
    "get_target",
    "probe_swap_type_table",
)

_CACHE_KEY = "drgn_softleaf.target"


class TargetError(Exception):
    """The kernel could not be understood well enough to decode entries."""


@dataclass(frozen=True)
class Target:
    """
    One kernel, as drgn-softleaf sees it.

    :ivar layout: The architecture's page-table layout.
    :ivar levels: Paging levels in use (4 or 5 on x86-64).
    :ivar level_shifts: (name, shift) per level, from the top.
    :ivar table_entries: Entries per table at each level, from the top (the
        top table can hold fewer than a page, arm64's ``PTRS_PER_PGD``).
    :ivar max_physmem_bits: ``MAX_PHYSMEM_BITS`` (from VMCOREINFO).
    :ivar sme_mask: Memory-encryption bit mask (VMCOREINFO ``sme_mask``).
    :ivar physical_mask: ``physical_mask``: physical address bits of an entry.
    :ivar table: The swap type table.
    :ivar leafops: :class:`~drgn_softleaf.leafops.Leafops` for this kernel.
    :ivar release: ``uname -r`` of the kernel.
    :ivar probe_notes: How each part of the table was found out.
    """

    layout: Any
    levels: int
    level_shifts: Tuple[Tuple[str, int], ...]
    table_entries: Tuple[int, ...]
    max_physmem_bits: int
    sme_mask: int
    physical_mask: int
    table: SwapTypeTable
    leafops: Leafops
    release: str
    probe_notes: Tuple[str, ...]

    def level_shift(self, level: str) -> int:
        """
        The shift of the address bits one entry at *level* maps
        (``PMD_SHIFT`` for ``"pmd"``...), also for a level folded away.
        """
        for name, shift in self.level_shifts:
            if name == level:
                return shift
        page_shift = self.layout.page_shift
        bits = self.layout.entries_per_table.bit_length() - 1
        order = ("pte", "pmd", "pud", "p4d", "pgd")
        return page_shift + bits * order.index(level) if level in order else page_shift


def _max_swapfiles(prog: Program, notes: List[str]) -> Optional[int]:
    """``MAX_SWAPFILES``: the length of ``swap_info[]``; ``None`` without
    CONFIG_SWAP (no ``swap_info[]``, but migration, device, hwpoison and
    marker entries all exist: what the parts leave, if each can be told)."""
    try:
        max_swapfiles = len(prog["swap_info"])
    except KeyError:
        notes.append("no swap_info[] (no CONFIG_SWAP): MAX_SWAPFILES from the parts")
        return None
    except TypeError as e:
        raise TargetError(f"cannot find MAX_SWAPFILES (swap_info[]): {e}") from None
    notes.append(f"MAX_SWAPFILES={max_swapfiles} (length of swap_info[])")
    return max_swapfiles


def _configured(prog: Program, config: Optional[Mapping[str, str]],
                notes: List[str]) -> Callable[..., bool]:
    """``configured(OPTION, *symbols)``: from IKCONFIG when the kernel has
    it, else whether any of the symbols the option brings exists."""
    if config is not None:
        notes.append("configuration from IKCONFIG")
        return lambda option, *symbols: config.get("CONFIG_" + option) == "y"
    notes.append("no IKCONFIG: configuration probed from symbols")
    return lambda option, *symbols: any(has_symbol(prog, s) for s in symbols)


def _device_options(prog: Program, config: Optional[Mapping[str, str]]) -> Tuple[int, ...]:
    """The ``SWP_DEVICE_NUM`` values this kernel's era allows."""
    if config is not None and config.get("CONFIG_DEVICE_PRIVATE") != "y":
        return (0,)
    if has_symbol(prog, "make_device_exclusive"):
        # Since Linux 6.15, make_device_exclusive() replaced
        # make_device_exclusive_range() and one SWP_DEVICE_EXCLUSIVE type
        # replaced the _WRITE and _READ pair.
        return (3,)
    if has_symbol(prog, "make_device_exclusive_range"):
        # v5.14 to v6.14 (the function exists with CONFIG_DEVICE_PRIVATE):
        # SWP_DEVICE_EXCLUSIVE_WRITE and _READ.
        return (4,)
    if has_constant(prog, "PG_anon_exclusive"):
        # v5.19+ without either: no CONFIG_DEVICE_PRIVATE.
        return (0,)
    # Before v5.14, SWP_DEVICE_WRITE and _READ only; or no
    # CONFIG_DEVICE_PRIVATE.
    return (0, 2)


def _marker_options(prog: Program, config: Optional[Mapping[str, str]],
                    swapin_error_type: bool) -> Tuple[int, ...]:
    """The ``SWP_PTE_MARKER_NUM`` values this kernel's era allows."""
    if not has_constant(prog, "PG_anon_exclusive"):
        # PTE markers came with v5.19.
        return (0,)
    if swapin_error_type:
        # v5.19 to v6.1: only with CONFIG_PTE_MARKER.
        if config is not None:
            return (int(config.get("CONFIG_PTE_MARKER") == "y"),)
        return (0, 1)
    # Since v6.2, always.
    return (1,)


def _marker_mask(prog: Program, swapin_error_type: bool) -> int:
    """``PTE_MARKER_MASK``: uffd-wp only while swap-in errors had a type of
    their own, 7 with guard markers (since Linux 6.13: the madvise guard
    walkers are only called through function pointers, so their symbols
    exist wherever the feature does), else 3."""
    if swapin_error_type:
        return 1
    if has_symbol(prog, "guard_install_pte_entry") or \
            has_symbol(prog, "madvise_guard_install"):
        return 7
    return 3


def probe_swap_type_table(prog: Program) -> Tuple[SwapTypeTable, Tuple[str, ...]]:
    """
    Work out the swap type table of the kernel behind *prog*.

    ``len(swap_info)`` is ``MAX_SWAPFILES``; the special types must fill the
    rest of the 32 type numbers.

    :raises TargetError: if the parts found do not add up to 32 types.
    """
    notes: List[str] = []
    max_swapfiles = _max_swapfiles(prog, notes)
    config = kconfig(prog)
    configured = _configured(prog, config, notes)
    hwpoison_num = int(configured("MEMORY_FAILURE", "memory_failure"))
    migration_num = 0
    if configured("MIGRATION", "migrate_pages"):
        # Since Linux kernel commit 6c287605fd56 ("mm: remember exclusively
        # mapped anonymous pages with PG_anon_exclusive") (in v5.19),
        # there is SWP_MIGRATION_READ_EXCLUSIVE.
        migration_num = 3 if has_constant(prog, "PG_anon_exclusive") else 2
    swapin_error_type = _swapin_error_is_a_type(prog)
    swapin_error_num = int(swapin_error_type)
    # What remains is the device types and the marker type.
    device_options = _device_options(prog, config)
    marker_options = _marker_options(prog, config, swapin_error_type)
    if max_swapfiles is None:
        if len(device_options) != 1 or len(marker_options) != 1:
            raise TargetError(
                "no swap_info[] (no CONFIG_SWAP), and the device "
                f"({list(device_options)}) or marker ({list(marker_options)}) types "
                "cannot be told without IKCONFIG")
        max_swapfiles = 32 - hwpoison_num - migration_num - swapin_error_num - \
            device_options[0] - marker_options[0]
        notes.append(f"MAX_SWAPFILES={max_swapfiles} (from the parts)")
    rest = 32 - max_swapfiles - hwpoison_num - migration_num - swapin_error_num
    fits = [(d, m) for d in device_options for m in marker_options if d + m == rest]
    if len(fits) != 1:
        raise TargetError(
            f"swap type table does not add up: MAX_SWAPFILES={max_swapfiles}, "
            f"hwpoison={hwpoison_num}, migration={migration_num}, "
            f"swapin_error={swapin_error_num} leave {rest} device and marker types, "
            f"which {'no' if not fits else 'more than one'} combination of "
            f"device={list(device_options)} and marker={list(marker_options)} gives"
        )
    device_num, marker_num = fits[0]
    marker_mask = _marker_mask(prog, swapin_error_type)
    # Since Linux kernel commit 0a1ee16dd91c ("mm: userfaultfd: add new
    # UFFDIO_POISON ioctl") (in v6.6), marker bit 1 is PTE_MARKER_POISONED
    # (UFFDIO_POISON, MFILL_ATOMIC_POISON); in v6.2 to v6.5 it was
    # PTE_MARKER_SWAPIN_ERROR.
    swapin_error_marker = bool(marker_num) and bool(marker_mask & 2) and \
        not has_constant(prog, "MFILL_ATOMIC_POISON")
    notes.append(
        f"types: hwpoison={hwpoison_num} migration={migration_num} "
        f"device={device_num} marker={marker_num} swapin_error={swapin_error_num} "
        f"guard={marker_mask == 7}"
    )
    table = SwapTypeTable(
        hwpoison_num=hwpoison_num,
        migration_num=migration_num,
        device_num=device_num,
        marker_num=marker_num,
        marker_mask=marker_mask,
        swapin_error_num=swapin_error_num,
        swapin_error_marker=swapin_error_marker,
    )
    return table, tuple(notes)


def _swapin_error_is_a_type(prog: Program) -> bool:
    """
    Whether a swap-in error has a swap type of its own (``SWP_SWAPIN_ERROR``,
    include/linux/swap.h): from Linux kernel commit 9f186f9e5fa9
    ("mm/swapfile: unuse_pte can map random data if swap read fails") (in
    v5.19) until commit 15520a3f0469 ("mm: use pte markers for swap
    errors") (in v6.2) made it a marker bit. Both are macros, so the eras
    are told apart by what came with them: PG_anon_exclusive (also v5.19)
    and, in v6.2, ``mm->rss_stat`` becoming percpu counters (commit
    f1a7941243c1 ("mm: convert mm's rss stats into percpu_counter")): a
    ``struct mm_rss_stat`` is the earlier era.
    """
    if not has_constant(prog, "PG_anon_exclusive"):
        return False
    try:
        rss_stat = prog.type("struct mm_struct").member("rss_stat").type
    except LookupError:
        return False
    return rss_stat.unqualified().kind.name == "STRUCT"


def get_target(prog: Program) -> Target:
    """
    Return the :class:`Target` for *prog*, probing it on first use.

    >>> get_target(prog).table.max_swapfiles
    24

    :raises TargetError: if the kernel cannot be understood.
    :raises drgn_softleaf.arch.UnsupportedArchitecture: if the architecture
        has no layout.
    """
    try:
        return prog.cache[_CACHE_KEY]
    except KeyError:
        pass
    layout = arch_layout(prog)
    info = vmcoreinfo(prog)
    # The configuration is read only if the layout asks for it.
    levels = layout.paging_levels(info, lambda: kconfig(prog) or {})
    try:
        max_physmem_bits = int(info["NUMBER(MAX_PHYSMEM_BITS)"])
    except KeyError:
        raise TargetError("VMCOREINFO has no NUMBER(MAX_PHYSMEM_BITS)") from None
    sme_mask = int(info.get("NUMBER(sme_mask)", "0"), 0)
    table, notes = probe_swap_type_table(prog)
    # swap_migration_ad_supported is only true when the swap offset can hold
    # the pfn and both bits (mm/swapfile.c); before Linux kernel commit
    # 2e3468778dbe ("mm: remember young/dirty bit for page migrations") (in
    # v6.1), there were no A/D bits at all.
    try:
        migration_ad = bool(prog["swap_migration_ad_supported"].value_())
    except KeyError:
        migration_ad = False
    device_private_pmd = _device_private_pmd(prog)
    notes += (f"MAX_PHYSMEM_BITS={max_physmem_bits} migration A/D={migration_ad} "
              f"device-private PMD={device_private_pmd}",)
    page_shift = layout.page_shift
    target = Target(
        layout=layout,
        levels=levels,
        level_shifts=layout.level_shifts(levels),
        table_entries=layout.table_entries(levels),
        max_physmem_bits=max_physmem_bits,
        sme_mask=sme_mask,
        physical_mask=_physical_mask(prog, layout, sme_mask),
        table=table,
        leafops=Leafops(layout, table, max_physmem_bits - page_shift, migration_ad,
                        device_private_pmd),
        release=_release(prog),
        probe_notes=tuple(notes),
    )
    prog.cache[_CACHE_KEY] = target
    return target


def _device_private_pmd(prog: Program) -> bool:
    """
    Whether device-private entries can exist at PMD level: device-private
    THP came with ``MIGRATE_VMA_SELECT_COMPOUND`` (include/linux/migrate.h,
    ``enum migrate_vma_direction``); before, only migration entries were
    valid there. Only a kernel whose enum is known to lack it is taken as
    the older kind: if the enum is not in the debug info, a device-private
    PMD entry is accepted (a missed anomaly rather than a false one).
    """
    try:
        enum = prog.type("enum migrate_vma_direction")
    except LookupError:
        return True
    return any(name == "MIGRATE_VMA_SELECT_COMPOUND" for name, _ in enum.enumerators or ())


def _physical_mask(prog: Program, layout: Any, sme_mask: int) -> int:
    """
    The physical address bits of an entry: the kernel's own
    ``physical_mask`` variable where it has one (CONFIG_DYNAMIC_PHYSICAL_MASK:
    it also leaves out a TDX guest's shared bit), else the architecture's
    mask less the memory-encryption bit.
    """
    computed = layout.physical_mask(sme_mask)
    try:
        value = prog["physical_mask"].value_()
    except (KeyError, FaultError, ValueError):
        return computed
    # Only a narrowing of the architecture's mask makes sense.
    return value if value and value & ~computed == 0 else computed


def _release(prog: Program) -> str:
    try:
        return prog["UTS_RELEASE"].string_().decode()
    except KeyError:
        return ""
