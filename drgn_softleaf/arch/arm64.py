# SPDX-License-Identifier: LGPL-2.1-or-later
"""
arm64 page-table entry layout
-----------------------------

Pure bit logic for arm64 page-table entries, ported from
``arch/arm64/include/asm/pgtable.h``, ``pgtable-prot.h`` and
``pgtable-hwdef.h``. Nothing here reads memory: :class:`Arm64` is made from
what the program says (VMCOREINFO and two probes, see
:func:`drgn_softleaf.arch.arch_layout`) and then only computes.

One kernel build can run with different layouts: the granule (``PAGE_SHIFT``
12, 14 or 16) and ``VA_BITS`` are fixed at build time, but a 52-bit kernel
falls back on hardware without FEAT_LVA or FEAT_LPA2, or with
``arm64.nolva`` (4K: 48 bits and one level fewer; 16K: 47 bits,
``VA_BITS_MIN``; 64K: 48 bits, same levels); and with 4K or 16K pages,
descriptors hold PA[51:50] in bits 9:8 only while LPA2 is on, which is
exactly when the 52-bit VA is in use (``TCR_EL1.DS`` goes with
``ARM64_HAS_VA52``). The PTE layout changed in v6.10 (PTE_PRESENT_INVALID
over nG, new swap PTE layout with uffd-wp) and the swap PTE layout in v5.19
(the exclusive bit, with ``PG_anon_exclusive``).
"""

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

__all__ = ("Arm64", "Arm64Vector", "SwapPteLayout", "SWAP_PTE_LAYOUTS")

# arch/arm64/include/asm/pgtable-hwdef.h
PTE_VALID = 1 << 0
PTE_TYPE_MASK = 3 << 0
PTE_TYPE_PAGE = 3 << 0
PMD_TYPE_TABLE = 3 << 0
PTE_USER = 1 << 6  # AP[1]
PTE_RDONLY = 1 << 7  # AP[2]
PTE_SHARED = 3 << 8  # SH[1:0]
PTE_AF = 1 << 10
PTE_NG = 1 << 11
PTE_GP = 1 << 50
PTE_DBM = 1 << 51
PTE_CONT = 1 << 52
PTE_PXN = 1 << 53
PTE_UXN = 1 << 54
# ARM64_HW_PGTABLE_LEVELS() and ARM64_HW_PGTABLE_LEVEL_SHIFT(): log2 of the
# size of a descriptor.
PTDESC_ORDER = 3

# arch/arm64/include/asm/pgtable-prot.h
PTE_WRITE = PTE_DBM
PTE_SWP_EXCLUSIVE = 1 << 2
PTE_DIRTY = 1 << 55
PTE_SPECIAL = 1 << 56
# Until Linux 6.17.
PTE_DEVMAP = 1 << 57
# Since v6.10 (Linux kernel commit 55564814a838 "arm64/mm: Move
# PTE_PRESENT_INVALID to overlay PTE_NG"): a present entry that the hardware
# must not use (PROT_NONE, or a PMD being split) is !PTE_VALID with nG set.
PTE_PRESENT_INVALID = PTE_NG
PTE_UFFD = 1 << 58
PTE_SWP_UFFD = 1 << 3
# Before v6.10: PROT_NONE is its own software bit, and a PMD being split
# (pmd_mkinvalid()) has PMD_PRESENT_INVALID.
PTE_PROT_NONE = 1 << 58
PMD_PRESENT_INVALID = 1 << 59

_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class SwapPteLayout:
    """
    The swap PTE of one era (``__SWP_TYPE_SHIFT``, ``__SWP_TYPE_BITS``,
    ``__SWP_OFFSET_SHIFT``, ``__SWP_OFFSET_BITS`` in
    arch/arm64/include/asm/pgtable.h) and the PTE bits that era defines.

    :ivar name: What tells the era apart (:func:`drgn_softleaf.arch.arch_layout`).
    :ivar present_invalid: PROT_NONE is ``PTE_PRESENT_INVALID`` (bit 11),
        not ``PTE_PROT_NONE`` (bit 58).
    """

    name: str
    type_shift: int
    type_bits: int
    offset_shift: int
    offset_bits: int
    exclusive: int
    uffd: int
    present_invalid: bool


SWAP_PTE_LAYOUTS: Dict[str, SwapPteLayout] = {
    # Since v6.10: "bits 2: remember PG_anon_exclusive, bit 3: remember uffd
    # state, bits 6-10: swap type, bit 11: PTE_PRESENT_INVALID (must be
    # zero), bits 12-61: swap offset".
    "present_invalid": SwapPteLayout("present_invalid", 6, 5, 12, 50, PTE_SWP_EXCLUSIVE,
                                     PTE_SWP_UFFD, True),
    # v5.19 to v6.9 (Linux kernel commit 570ef363509b "arm64/pgtable:
    # support __HAVE_ARCH_PTE_SWP_EXCLUSIVE"): "bits 2: remember
    # PG_anon_exclusive, bits 3-7: swap type, bits 8-57: swap offset, bit
    # 58: PTE_PROT_NONE (must be zero)".
    "swp_exclusive": SwapPteLayout("swp_exclusive", 3, 5, 8, 50, PTE_SWP_EXCLUSIVE, 0, False),
    # Up to v5.18: "bits 2-7: swap type, bits 8-57: swap offset".
    "prot_none": SwapPteLayout("prot_none", 2, 6, 8, 50, 0, 0, False),
}


class Arm64:
    """
    One arm64 layout: granule, virtual address size in use, physical
    address bits in descriptors and PTE era. Same interface as
    :class:`drgn_softleaf.arch.x86_64.X86_64`.

    :param page_shift: ``PAGE_SHIFT``: 12, 14 or 16.
    :param va_bits: ``VA_BITS``, the build's (VMCOREINFO ``NUMBER(VA_BITS)``).
    :param vabits_actual: The VA size in use: ``64 - TCR_EL1.T1SZ``.
    :param max_physmem_bits: ``MAX_PHYSMEM_BITS`` (VMCOREINFO): with 64K
        pages, 52 when the build has 52-bit PAs (``CONFIG_ARM64_PA_BITS``),
        whose PA[51:48] descriptors always carry in bits 15:12. (With 4K and
        16K pages it is not the sign of LPA2: from v6.9 to v6.12 it stayed
        52 with LPA2 off; the VA size in use is.)
    :param swap: The PTE era, from :data:`SWAP_PTE_LAYOUTS`.
    """

    name = "aarch64"
    # MAX_POSSIBLE_PHYSMEM_BITS (arch/arm64/include/asm/sparsemem.h).
    max_possible_physmem_bits = 52
    # pte_none() and friends: !pte_val() (no ignored bits).
    none_ignore_mask = 0
    # An upper-level entry points to a table iff (entry & table_mask) ==
    # table_value (table_present(), array-wise).
    table_mask = PTE_TYPE_MASK
    table_value = PMD_TYPE_TABLE
    # pte_special().
    special_mask = PTE_SPECIAL
    # pte_devmap(), on kernels that have it (the caller tells).
    devmap_mask = PTE_DEVMAP

    def __init__(self, page_shift: int, va_bits: int, vabits_actual: int,
                 max_physmem_bits: int, swap: SwapPteLayout) -> None:
        if page_shift not in (12, 14, 16):
            raise ValueError(f"arm64 has 4K, 16K or 64K pages, not 2^{page_shift} bytes")
        if not 36 <= vabits_actual <= va_bits <= 52:
            raise ValueError(f"bad arm64 VA size: {vabits_actual} bits in use of {va_bits}")
        self.page_shift = page_shift
        self.va_bits = va_bits
        self.vabits_actual = vabits_actual
        self.max_physmem_bits = max_physmem_bits
        self.swap = swap
        bits = page_shift - PTDESC_ORDER
        self.entries_per_table = 1 << bits
        # ARM64_HW_PGTABLE_LEVELS(va_bits).
        self.levels = (vabits_actual - PTDESC_ORDER - 1) // bits
        build_levels = (va_bits - PTDESC_ORDER - 1) // bits
        top_shift = page_shift + bits * (self.levels - 1)
        # PTRS_PER_PGD is 1 << (VA_BITS - PGDIR_SHIFT); a level folded at
        # run time (52-bit build at 48 bits with one level fewer) leaves a
        # whole page at the top (pgdir_is_page_size(), arch/arm64/mm/pgd.c).
        self.top_entries = (self.entries_per_table if self.levels < build_levels
                            else min(1 << (va_bits - top_shift), self.entries_per_table))
        # __pte_to_phys(), which applies no PHYS_MASK: PTE_ADDR_LOW is bits
        # 49:PAGE_SHIFT since v6.9 (47:PAGE_SHIFT before); with 52-bit PAs,
        # PTE_ADDR_HIGH is bits 15:12 (64K, FEAT_LPA) or 9:8 (4K and 16K,
        # LPA2 on), shifted up by PTE_ADDR_HIGH_SHIFT. With LPA2 off, bits
        # 9:8 are the shareability (PTE_MAYBE_SHARED), cleared first.
        top = 50 if swap.present_invalid else 48
        self._addr_low = ((1 << (top - page_shift)) - 1) << page_shift
        if page_shift == 16:
            pa52 = max_physmem_bits > 48
            self._addr_high, self._addr_high_shift = (0xF << 12, 36) if pa52 else (0, 0)
        else:
            pa52 = vabits_actual == 52
            self._addr_high, self._addr_high_shift = (0x3 << 8, 42) if pa52 else (0, 0)
        # PHYS_MASK_SHIFT in use.
        self.phys_bits = 52 if pa52 else 48
        if swap.present_invalid:
            self.present_mask = PTE_VALID | PTE_PRESENT_INVALID
            self.present_flag_bits: Tuple[Tuple[str, int], ...] = (("uffd_wp", PTE_UFFD),)
        else:
            self.present_mask = PTE_VALID | PTE_PROT_NONE
            self.present_flag_bits = ()
        # Bits that only a swap PTE carries; arm64 has no swap soft-dirty.
        self.swp_flag_bits: Tuple[Tuple[str, int], ...] = tuple(
            (n, m) for n, m in (("uffd_wp", swap.uffd), ("exclusive", swap.exclusive)) if m)
        # softleaf_from_pmd() clears only soft-dirty and uffd-wp.
        self.pmd_swp_flag_bits: Tuple[Tuple[str, int], ...] = tuple(
            (n, m) for n, m in (("uffd_wp", swap.uffd),) if m)
        self.swp_offset_bits = swap.offset_bits
        self.swp_type_bits = swap.type_bits
        self._type_mask = (1 << swap.type_bits) - 1
        self._offset_mask = (1 << swap.offset_bits) - 1
        self._vector: Optional[Arm64Vector] = None

    def __repr__(self) -> str:
        return (f"Arm64(page_shift={self.page_shift}, va_bits={self.va_bits}, "
                f"vabits_actual={self.vabits_actual}, "
                f"max_physmem_bits={self.max_physmem_bits}, swap={self.swap.name!r})")

    @classmethod
    def from_vmcoreinfo(cls, info: Mapping[str, str], swap: SwapPteLayout,
                        vabits_actual: Optional[int] = None) -> "Arm64":
        """
        Make the layout from VMCOREINFO: ``PAGESIZE``, ``NUMBER(VA_BITS)``,
        ``NUMBER(TCR_EL1_T1SZ)`` (the VA size in use, since v5.9; before,
        *vabits_actual*, the kernel's ``vabits_actual`` variable, else
        ``VA_BITS``) and ``NUMBER(MAX_PHYSMEM_BITS)``.

        :raises ValueError: if a value is missing or out of range.
        """
        try:
            page_size = int(info["PAGESIZE"])
            va_bits = int(info["NUMBER(VA_BITS)"])
            max_physmem_bits = int(info["NUMBER(MAX_PHYSMEM_BITS)"])
        except (KeyError, ValueError) as e:
            raise ValueError(f"VMCOREINFO lacks what arm64 needs ({e})") from None
        t1sz = info.get("NUMBER(TCR_EL1_T1SZ)")
        if t1sz:
            vabits_actual = 64 - int(t1sz, 0)
        elif vabits_actual is None:
            vabits_actual = va_bits
        if page_size & (page_size - 1):
            raise ValueError(f"bad PAGESIZE {page_size}")
        return cls(page_size.bit_length() - 1, va_bits, vabits_actual, max_physmem_bits, swap)

    # -- levels and address space ------------------------------------------

    def paging_levels(self, info: Mapping[str, str],
                      kconfig: Callable[[], Mapping[str, str]]) -> int:
        """Paging levels in use (from the VA size in use)."""
        return self.levels

    def level_shifts(self, levels: int) -> Tuple[Tuple[str, int], ...]:
        """
        Return the paging levels from the top, as (name, shift of the
        address bits one entry maps), ``ARM64_HW_PGTABLE_LEVEL_SHIFT()``.
        A folded level's entries are the next level up's, so the top level
        is named for the lowest level it stands for (with 3 levels the
        top's entries are ``pud_t``, with 2 ``pmd_t``): the leaf rules of
        that level apply to it.
        """
        if levels != self.levels:
            raise ValueError(f"this arm64 kernel has {self.levels} paging levels, not {levels}")
        names = ("pte", "pmd", "pud", "p4d")[:levels]
        if levels == 5:
            names += ("pgd",)
        elif levels == 4:
            names = ("pte", "pmd", "pud", "pgd")
        bits = self.page_shift - PTDESC_ORDER
        return tuple((name, self.page_shift + bits * i) for i, name in reversed(list(enumerate(names))))

    def table_entries(self, levels: int) -> Tuple[int, ...]:
        """Entries per table at each level from the top (``PTRS_PER_PGD``
        can be fewer than a page holds)."""
        return (self.top_entries,) + (self.entries_per_table,) * (levels - 1)

    def kernel_range(self, levels: int) -> Tuple[int, int]:
        """The kernel half (TTBR1): from ``_PAGE_OFFSET(vabits_actual)``."""
        return (1 << 64) - (1 << self.vabits_actual), 1 << 64

    def user_range(self, levels: int) -> Tuple[int, int]:
        """The user half (TTBR0): ``TASK_SIZE_64``, 1 << ``vabits_actual``."""
        return 0, 1 << self.vabits_actual

    def physical_mask(self, sme_mask: int = 0) -> int:
        """``PHYS_MASK``: the physical address bits in use. (Not applied
        to descriptors: ``__pte_to_phys()`` does not.)"""
        return (1 << self.phys_bits) - 1

    # -- present / none ------------------------------------------------------

    @staticmethod
    def pte_none(pte: int) -> bool:
        """``pte_none()``: ``!pte_val(pte)``."""
        return not pte

    pmd_none = pte_none
    pud_none = pte_none

    def pte_present(self, pte: int) -> bool:
        """
        ``pte_present()``: valid, or present-invalid (since v6.10:
        ``pte_valid() || pte_present_invalid()``; before, ``PTE_VALID |
        PTE_PROT_NONE``).
        """
        return bool(pte & self.present_mask)

    def pte_protnone(self, pte: int) -> bool:
        """
        ``pte_protnone()``. Since v6.10, present-invalid and neither user
        accessible nor user executable: a PMD invalidated for a split
        (``pmd_mkinvalid()``) is present-invalid without being PROT_NONE.
        Before, ``PTE_PROT_NONE`` without ``PTE_VALID``.
        """
        if self.swap.present_invalid:
            return (pte & (PTE_VALID | PTE_PRESENT_INVALID | PTE_USER | PTE_UXN)
                    == PTE_PRESENT_INVALID | PTE_UXN)
        return pte & (PTE_VALID | PTE_PROT_NONE) == PTE_PROT_NONE

    pmd_protnone = pte_protnone

    def pmd_present(self, pmd: int) -> bool:
        """``pmd_present()``: ``pte_present()``, and before v6.10 also
        ``PMD_PRESENT_INVALID`` (a PMD being split)."""
        if self.swap.present_invalid:
            return bool(pmd & self.present_mask)
        return bool(pmd & (self.present_mask | PMD_PRESENT_INVALID))

    def pmd_leaf(self, pmd: int) -> bool:
        """``pmd_leaf()``: ``pmd_present() && !pmd_table()``."""
        return self.pmd_present(pmd) and pmd & PTE_TYPE_MASK != PMD_TYPE_TABLE

    def pud_present(self, pud: int) -> bool:
        """``pud_present()``: ``pte_present()`` of the entry."""
        return bool(pud & self.present_mask)

    def pud_leaf(self, pud: int) -> bool:
        """
        ``pud_leaf()``: ``pud_present() && !pud_table()``. With 64K pages
        ``pud_table()`` is always true, so a PUD is never a leaf. (arm64 has
        no PUD THP and no ``pudp_invalidate()``: a non-present PUD is never
        a leaf either.)
        """
        if self.page_shift == 16:
            return False
        return self.pud_present(pud) and pud & PTE_TYPE_MASK != PMD_TYPE_TABLE

    @staticmethod
    def table_present(entry: int) -> bool:
        """Whether an upper-level entry is a table descriptor
        (``pmd_table()``: bits 1:0 are 0b11)."""
        return entry & PTE_TYPE_MASK == PMD_TYPE_TABLE

    # -- bits, for people ----------------------------------------------------

    def entry_bit_names(self, value: int, level: str) -> Tuple[str, ...]:
        """
        Names of the bits set in a present entry (or a table descriptor) at
        *level*, as pgtable-hwdef.h and pgtable-prot.h name them.
        """
        names = []
        if value & PTE_VALID:
            names.append("valid")
            if value & PTE_TYPE_MASK == PTE_TYPE_PAGE:
                names.append("page" if level == "pte" else "table")
            else:
                names.append("block")
        elif self.swap.present_invalid and value & PTE_PRESENT_INVALID:
            names.append("present_invalid")
        elif not self.swap.present_invalid and value & PTE_PROT_NONE:
            names.append("prot_none")
        elif not self.swap.present_invalid and value & PMD_PRESENT_INVALID:
            names.append("pmd_present_invalid")
        if value & PTE_VALID and value & PTE_TYPE_MASK == PMD_TYPE_TABLE and level != "pte":
            # Table descriptor attributes (pgtable-hwdef.h PMD_TABLE_*,
            # PUD_TABLE_*; AF with FEAT_HAFT).
            for bit, name in ((10, "af"), (59, "pxn_table"), (60, "uxn_table"),
                              (63, "ns_table")):
                if value >> bit & 1:
                    names.append(name)
            if (value >> 61) & 3:
                names.append(f"ap_table={(value >> 61) & 3}")
        else:
            names.append(f"attrindx={(value >> 2) & 7}")
            for mask, name in ((PTE_USER, "user"), (PTE_RDONLY, "rdonly"), (PTE_AF, "af"),
                               (PTE_GP, "gp"), (PTE_DBM, "dbm"), (PTE_CONT, "cont"),
                               (PTE_PXN, "pxn"), (PTE_UXN, "uxn"), (PTE_DIRTY, "dirty"),
                               (PTE_SPECIAL, "special")):
                if value & mask:
                    names.append(name)
            if value & PTE_NG and (value & PTE_VALID or not self.swap.present_invalid):
                names.append("ng")
            if not self._addr_high or self.page_shift == 16:
                sh = (value >> 8) & 3
                if sh:
                    names.append(f"sh={sh}")
            if self.swap.present_invalid and value & PTE_UFFD:
                names.append("uffd")
            # Bit 57 was PTE_DEVMAP until pte_devmap() went away: by number.
            if value >> 57 & 1:
                names.append("bit57")
        return tuple(names)

    # -- pfns ----------------------------------------------------------------

    def _to_phys(self, val: int) -> int:
        """``__pte_to_phys()``."""
        phys = val & self._addr_low
        if self._addr_high:
            phys |= (val & self._addr_high) << self._addr_high_shift
        return phys

    def leaf_pfn(self, val: int, shift: int, physical_mask: int) -> int:
        """
        ``pte_pfn()``/``pmd_pfn()``/``pud_pfn()``: the first pfn a present leaf
        maps (``(__pmd_to_phys(pmd) & PMD_MASK) >> PAGE_SHIFT``).

        :param shift: The level's shift (:meth:`level_shifts`).
        :param physical_mask: Unused: arm64 applies no mask here.
        """
        return (self._to_phys(val) & ~((1 << shift) - 1)) >> self.page_shift

    def table_phys(self, entry: int, physical_mask: int) -> int:
        """Physical address of the table an upper-level entry points to
        (``pmd_page_paddr()``)."""
        return self._to_phys(entry)

    # -- swap entries --------------------------------------------------------

    def pte_swp_clear_flags(self, pte: int) -> int:
        """``pte_swp_clear_flags()`` (include/linux/swapops.h)."""
        return pte & ~(self.swap.exclusive | self.swap.uffd)

    def pmd_swp_clear_flags(self, pmd: int) -> int:
        """The flags ``softleaf_from_pmd()`` clears: uffd-wp (arm64 has no
        swap soft-dirty)."""
        return pmd & ~self.swap.uffd

    def swp_type(self, arch_entry: int) -> int:
        """``__swp_type()``."""
        return (arch_entry >> self.swap.type_shift) & self._type_mask

    def swp_offset(self, arch_entry: int) -> int:
        """``__swp_offset()``."""
        return (arch_entry >> self.swap.offset_shift) & self._offset_mask

    def swp_entry(self, type: int, offset: int) -> int:
        """``__swp_entry()`` then ``__swp_entry_to_pte()``: the PTE value of
        a swap entry, flags clear."""
        return (type << self.swap.type_shift) | (offset << self.swap.offset_shift)

    def vector(self) -> "Arm64Vector":
        """The NumPy form of this layout (made on first use)."""
        if self._vector is None:
            self._vector = Arm64Vector(self)
        return self._vector


class Arm64Vector:
    """
    The same bit logic as :class:`Arm64`, over NumPy arrays of entries
    (``uint64``). Each method matches the scalar one of the same name.
    """

    def __init__(self, layout: Arm64) -> None:
        import numpy as np

        self.np = np
        swap = layout.swap
        self._present = np.uint64(layout.present_mask)
        if swap.present_invalid:
            self._protnone_mask = np.uint64(PTE_VALID | PTE_PRESENT_INVALID | PTE_USER | PTE_UXN)
            self._protnone = np.uint64(PTE_PRESENT_INVALID | PTE_UXN)
        else:
            self._protnone_mask = np.uint64(PTE_VALID | PTE_PROT_NONE)
            self._protnone = np.uint64(PTE_PROT_NONE)
        self._type_shift = np.uint64(swap.type_shift)
        self._type_mask = np.uint64((1 << swap.type_bits) - 1)
        self._off_shift = np.uint64(swap.offset_shift)
        self._off_mask = np.uint64((1 << swap.offset_bits) - 1)
        self._zero = np.uint64(0)
        self._low = np.uint64(layout._addr_low)
        self._high = np.uint64(layout._addr_high)
        self._high_shift = np.uint64(layout._addr_high_shift)
        self._page = np.uint64(layout.page_shift)

    def pte_nonnone(self, arr):  # type: ignore[no-untyped-def]
        """``!pte_none()``."""
        return arr != self._zero

    def pte_present(self, arr):  # type: ignore[no-untyped-def]
        """``pte_present()``."""
        return (arr & self._present) != self._zero

    def pte_protnone(self, arr):  # type: ignore[no-untyped-def]
        """``pte_protnone()``."""
        return (arr & self._protnone_mask) == self._protnone

    def swp_type(self, arr):  # type: ignore[no-untyped-def]
        """``__swp_type()``."""
        return (arr >> self._type_shift) & self._type_mask

    def swp_offset(self, arr):  # type: ignore[no-untyped-def]
        """``__swp_offset()``."""
        return (arr >> self._off_shift) & self._off_mask

    def pte_pfn(self, arr, physical_mask: int):  # type: ignore[no-untyped-def]
        """``pte_pfn()`` (no mask applied, as in the scalar one)."""
        phys = arr & self._low
        if self._high:
            phys = phys | ((arr & self._high) << self._high_shift)
        return phys >> self._page
