# SPDX-License-Identifier: LGPL-2.1-or-later
"""
x86-64 page-table entry layout
------------------------------

Pure bit logic for x86-64 page-table entries, ported from
``arch/x86/include/asm/pgtable.h``, ``pgtable_64.h``, ``pgtable_types.h``,
``pgtable_64_types.h`` and ``pgtable-invert.h``. Nothing here reads memory.
"""

from typing import Callable, Mapping, Tuple

__all__ = ("X86_64", "X86_64Vector")

# arch/x86/include/asm/pgtable_types.h
_PAGE_BIT_PRESENT = 0
_PAGE_BIT_RW = 1
_PAGE_BIT_USER = 2
_PAGE_BIT_PWT = 3
_PAGE_BIT_ACCESSED = 5
_PAGE_BIT_DIRTY = 6
_PAGE_BIT_PSE = 7
_PAGE_BIT_GLOBAL = 8
_PAGE_BIT_PROTNONE = _PAGE_BIT_GLOBAL
_PAGE_BIT_SOFTW1 = 9
_PAGE_BIT_SPECIAL = _PAGE_BIT_SOFTW1
_PAGE_BIT_SOFTW4 = 57
# Until Linux 6.17 (pgtable_types.h, x86-64's CONFIG_ARCH_HAS_PTE_DEVMAP).
_PAGE_BIT_DEVMAP = _PAGE_BIT_SOFTW4

_PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT
_PAGE_PSE = 1 << _PAGE_BIT_PSE
_PAGE_PROTNONE = 1 << _PAGE_BIT_PROTNONE
# pte_none() and pmd_none() ignore A and D (Knights Landing erratum).
_PAGE_KNL_ERRATUM_MASK = (1 << _PAGE_BIT_DIRTY) | (1 << _PAGE_BIT_ACCESSED)

# Swap PTE flag bits (pgtable_types.h, pgtable_64_types.h): non-present
# entries reuse bits 1-3.
_PAGE_SWP_SOFT_DIRTY = 1 << _PAGE_BIT_RW
_PAGE_SWP_UFFD = 1 << _PAGE_BIT_USER
_PAGE_SWP_EXCLUSIVE = 1 << _PAGE_BIT_PWT

# arch/x86/include/asm/pgtable_64.h
SWP_TYPE_BITS = 5
SWP_OFFSET_FIRST_BIT = _PAGE_BIT_PROTNONE + 1
SWP_OFFSET_SHIFT = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS

# __PHYSICAL_MASK_SHIFT is 52 on x86-64 (page_64_types.h).
_PHYSICAL_MASK_SHIFT = 52
_U64 = (1 << 64) - 1


class X86_64:
    """
    The x86-64 layout. One immutable instance, :data:`X86_64_LAYOUT`, is
    registered in :mod:`drgn_softleaf.arch`; other modules only use the
    attributes and methods below, never x86 constants of their own.
    """

    name = "x86_64"
    page_shift = 12
    # MAX_POSSIBLE_PHYSMEM_BITS (arch/x86/include/asm/sparsemem.h).
    max_possible_physmem_bits = 52
    entries_per_table = 512
    # Bits that only a swap PTE carries: (name, mask) in the order drgn-softleaf
    # reports them.
    swp_flag_bits: Tuple[Tuple[str, int], ...] = (
        ("soft_dirty", _PAGE_SWP_SOFT_DIRTY),
        ("uffd_wp", _PAGE_SWP_UFFD),
        ("exclusive", _PAGE_SWP_EXCLUSIVE),
    )
    # Software bits of a present entry (PTE or huge PMD/PUD) that pagemap
    # reports: pte_soft_dirty() (_PAGE_SOFT_DIRTY, bit 11) and pte_uffd_wp()
    # (_PAGE_UFFD, bit 10), arch/x86/include/asm/pgtable.h.
    present_flag_bits: Tuple[Tuple[str, int], ...] = (
        ("soft_dirty", 1 << 11),
        ("uffd_wp", 1 << 10),
    )
    # The flags a THP PMD swap entry carries (pmd_swp_soft_dirty(),
    # pmd_swp_uffd()); exclusivity is in the migration type there.
    pmd_swp_flag_bits: Tuple[Tuple[str, int], ...] = (
        ("soft_dirty", _PAGE_SWP_SOFT_DIRTY),
        ("uffd_wp", _PAGE_SWP_UFFD),
    )
    # Masks for fast paths that test many entries at once.
    present_mask = _PAGE_PRESENT | _PAGE_PROTNONE
    none_ignore_mask = _PAGE_KNL_ERRATUM_MASK
    # An upper-level entry points to a table iff (entry & table_mask) ==
    # table_value (table_present(), array-wise).
    table_mask = _PAGE_PRESENT | _PAGE_PSE
    table_value = _PAGE_PRESENT
    # pte_special(): a mapping that has no struct page to refcount (raw
    # pfns, the zero page), which vm_normal_page() does not look up.
    special_mask = 1 << _PAGE_BIT_SPECIAL
    # pte_devmap(), on kernels that have it (the caller tells).
    devmap_mask = 1 << _PAGE_BIT_DEVMAP

    @staticmethod
    def paging_levels(info: Mapping[str, str],
                      kconfig: Callable[[], Mapping[str, str]]) -> int:
        """
        Paging levels in use: VMCOREINFO ``NUMBER(pgtable_l5_enabled)``, else
        ``CONFIG_PGTABLE_LEVELS``, else 4.

        :param info: VMCOREINFO.
        :param kconfig: Returns the kernel's configuration (empty if unknown).
        """
        if "NUMBER(pgtable_l5_enabled)" in info:
            return 5 if int(info["NUMBER(pgtable_l5_enabled)"]) else 4
        return int(kconfig().get("CONFIG_PGTABLE_LEVELS", "4"))

    def table_entries(self, levels: int) -> Tuple[int, ...]:
        """Entries per table at each level from the top."""
        return (self.entries_per_table,) * levels

    def level_shifts(self, levels: int) -> Tuple[Tuple[str, int], ...]:
        """
        Return the paging levels from the top, as (name, shift of the
        address bits one entry maps).

        :param levels: 4 or 5.
        """
        shifts = (("pte", 12), ("pmd", 21), ("pud", 30), ("p4d", 39), ("pgd", 48))
        if levels == 4:
            # With 4 levels, the p4d is folded into the pgd (shift 39).
            return (("pgd", 39), ("pud", 30), ("pmd", 21), ("pte", 12))
        if levels == 5:
            return tuple(reversed(shifts))
        raise ValueError(f"x86-64 has 4 or 5 paging levels, not {levels}")

    @staticmethod
    def kernel_range(levels: int) -> Tuple[int, int]:
        """The kernel half of the address space (start, end) with *levels*
        paging levels (canonical addresses, Documentation/arch/x86/x86_64/mm.rst)."""
        start = 0xFF00000000000000 if levels == 5 else 0xFFFF800000000000
        return start, 1 << 64

    @staticmethod
    def user_range(levels: int) -> Tuple[int, int]:
        """The user half of the address space (start, end): ``TASK_SIZE_MAX``
        (arch/x86/include/asm/page_64.h), 2^47 or 2^56 less a guard page."""
        return 0, (1 << (56 if levels == 5 else 47)) - 4096

    @staticmethod
    def physical_mask(sme_mask: int = 0) -> int:
        """Return ``physical_mask``: 52 bits less the memory-encryption bit."""
        return ((1 << _PHYSICAL_MASK_SHIFT) - 1) & ~sme_mask

    # -- present / none ------------------------------------------------------

    @staticmethod
    def pte_none(pte: int) -> bool:
        """``pte_none()``: nothing but the A and D bits is set."""
        return not (pte & ~_PAGE_KNL_ERRATUM_MASK & _U64)

    pmd_none = pte_none
    pud_none = pte_none

    @staticmethod
    def pte_present(pte: int) -> bool:
        """``pte_present()``: present or PROT_NONE."""
        return bool(pte & (_PAGE_PRESENT | _PAGE_PROTNONE))

    @staticmethod
    def pte_protnone(pte: int) -> bool:
        """``pte_protnone()``: PROT_NONE (NUMA hint or PROT_NONE mapping)."""
        return (pte & (_PAGE_PROTNONE | _PAGE_PRESENT)) == _PAGE_PROTNONE

    pmd_protnone = pte_protnone

    @staticmethod
    def pmd_present(pmd: int) -> bool:
        """
        ``pmd_present()``: also counts _PAGE_PSE, which split_huge_page leaves
        set while it clears the present bit.
        """
        return bool(pmd & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE))

    @staticmethod
    def pmd_leaf(pmd: int) -> bool:
        """``pmd_leaf()``: a huge (PSE) entry, if present."""
        return bool(pmd & _PAGE_PSE)

    @staticmethod
    def pud_present(pud: int) -> bool:
        """``pud_present()``: only the present bit counts at PUD level."""
        return bool(pud & _PAGE_PRESENT)

    pud_leaf = pmd_leaf

    @staticmethod
    def table_present(entry: int) -> bool:
        """Whether a PGD/P4D/PUD/PMD entry points to a lower table."""
        return bool(entry & _PAGE_PRESENT) and not entry & _PAGE_PSE

    # -- bits, for people ----------------------------------------------------

    # (bit, name) of a present entry: arch/x86/include/asm/pgtable_types.h.
    # Bits 7 and 12 mean PAT/PSE/PAT_LARGE by level; 57 and 58 changed
    # meaning over time (devmap, saved-dirty) and are shown by number.
    _BIT_NAMES = ((1, "rw"), (2, "user"), (3, "pwt"), (4, "pcd"), (5, "accessed"),
                  (6, "dirty"), (8, "global"), (9, "special"), (10, "uffd"),
                  (11, "soft_dirty"), (57, "bit57"), (58, "bit58"), (63, "nx"))

    def entry_bit_names(self, value: int, level: str) -> Tuple[str, ...]:
        """
        Names of the bits set in a present entry (or a table entry) at
        *level*, as pgtable_types.h names them; for a PROT_NONE entry,
        ``protnone`` instead of ``present``/``global``.
        """
        names = []
        if value & _PAGE_PRESENT:
            names.append("present")
        elif value & _PAGE_PROTNONE:
            names.append("protnone")
        for bit, name in self._BIT_NAMES:
            if bit == _PAGE_BIT_GLOBAL and not value & _PAGE_PRESENT:
                continue
            if value >> bit & 1:
                names.append(name)
        if value >> 7 & 1:
            names.append("pat" if level == "pte" else "pse")
        if level != "pte" and value & _PAGE_PSE and value >> 12 & 1:
            names.append("pat_large")
        pkey = (value >> 59) & 0xF
        if pkey:
            names.append(f"pkey={pkey}")
        return tuple(names)

    # -- pfns ----------------------------------------------------------------

    @staticmethod
    def protnone_mask(val: int) -> int:
        """
        ``protnone_mask()``: a non-present, non-zero entry stores its pfn
        inverted (L1TF mitigation).
        """
        return _U64 if val and not val & _PAGE_PRESENT else 0

    def leaf_pfn(self, val: int, shift: int, physical_mask: int) -> int:
        """
        ``pte_pfn()``/``pmd_pfn()``/``pud_pfn()``: the first pfn a present leaf
        maps.

        :param shift: 12, 21 or 30 for a PTE, PMD or PUD leaf.
        :param physical_mask: from :meth:`physical_mask`.
        """
        val ^= self.protnone_mask(val)
        return (val & physical_mask & ~((1 << shift) - 1)) >> 12

    @staticmethod
    def table_phys(entry: int, physical_mask: int) -> int:
        """Physical address of the table a PGD/P4D/PUD/PMD entry points to."""
        return entry & physical_mask & ~0xFFF

    # -- swap entries --------------------------------------------------------

    @staticmethod
    def pte_swp_clear_flags(pte: int) -> int:
        """``pte_swp_clear_flags()`` (include/linux/swapops.h)."""
        return pte & ~(_PAGE_SWP_EXCLUSIVE | _PAGE_SWP_SOFT_DIRTY | _PAGE_SWP_UFFD)

    @staticmethod
    def pmd_swp_clear_flags(pmd: int) -> int:
        """The flags ``softleaf_from_pmd()`` clears: soft-dirty and uffd-wp."""
        return pmd & ~(_PAGE_SWP_SOFT_DIRTY | _PAGE_SWP_UFFD)

    @staticmethod
    def swp_type(arch_entry: int) -> int:
        """``__swp_type()``."""
        return arch_entry >> (64 - SWP_TYPE_BITS)

    @staticmethod
    def swp_offset(arch_entry: int) -> int:
        """``__swp_offset()``: the offset is stored inverted."""
        return ((~arch_entry << SWP_TYPE_BITS) & _U64) >> SWP_OFFSET_SHIFT

    @staticmethod
    def swp_entry(type: int, offset: int) -> int:
        """``__swp_entry()``: the PTE value of a swap entry, flags clear."""
        return (((~offset << SWP_OFFSET_SHIFT) & _U64) >> SWP_TYPE_BITS) | (
            type << (64 - SWP_TYPE_BITS)
        )

    # Bits of the offset an x86-64 swap PTE can hold (bits 9-58).
    swp_offset_bits = 64 - SWP_OFFSET_SHIFT
    swp_type_bits = SWP_TYPE_BITS

    def vector(self) -> "X86_64Vector":
        """The NumPy form of this layout (made on first use)."""
        v = self.__dict__.get("_vector")
        if v is None:
            v = self.__dict__["_vector"] = X86_64Vector()
        return v


X86_64_LAYOUT = X86_64()


class X86_64Vector:
    """
    The same bit logic as :class:`X86_64`, over NumPy arrays of entries
    (``uint64``): what a whole-system scan uses to classify table pages at a
    time. Each method matches the scalar one of the same name.
    """

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self._knl = np.uint64(_U64 & ~_PAGE_KNL_ERRATUM_MASK)
        self._present = np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)
        self._p = np.uint64(_PAGE_PRESENT)
        self._protnone = np.uint64(_PAGE_PROTNONE)
        self._type_shift = np.uint64(64 - SWP_TYPE_BITS)
        self._off_up = np.uint64(SWP_TYPE_BITS)
        self._off_down = np.uint64(SWP_OFFSET_SHIFT)
        self._ones = np.uint64(_U64)
        self._zero = np.uint64(0)
        self._page = np.uint64(12)

    def pte_nonnone(self, arr):  # type: ignore[no-untyped-def]
        """``!pte_none()``."""
        return (arr & self._knl) != 0

    def pte_present(self, arr):  # type: ignore[no-untyped-def]
        """``pte_present()``."""
        return (arr & self._present) != 0

    def pte_protnone(self, arr):  # type: ignore[no-untyped-def]
        """``pte_protnone()``."""
        return (arr & self._present) == self._protnone

    def swp_type(self, arr):  # type: ignore[no-untyped-def]
        """``__swp_type()`` (the flag bits do not reach the type)."""
        return arr >> self._type_shift

    def swp_offset(self, arr):  # type: ignore[no-untyped-def]
        """``__swp_offset()`` (the flag bits are shifted out)."""
        return (~arr << self._off_up) >> self._off_down

    def pte_pfn(self, arr, physical_mask: int):  # type: ignore[no-untyped-def]
        """``pte_pfn()``, with the inverted pfn of PROT_NONE entries."""
        np = self.np
        inv = np.where(((arr & self._p) == 0) & (arr != 0), self._ones, self._zero)
        return ((arr ^ inv) & np.uint64(physical_mask & ~0xFFF)) >> self._page
