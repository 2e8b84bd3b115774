# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Leaf entry operations
---------------------

A port of ``include/linux/leafops.h`` (Linux 6.19+) and of the swap entry
encoders in ``include/linux/swapops.h`` and ``include/linux/swap.h``, as pure
functions over integers. Older kernels spell the same logic with
``swp_entry_t``; the numbers differ by kernel version and configuration, which
:class:`SwapTypeTable` captures. Nothing here reads memory: see
:mod:`drgn_softleaf.target` for how a program's table is worked out.

>>> from drgn_softleaf.arch.x86_64 import X86_64_LAYOUT
>>> table = SwapTypeTable.linux_6_15()
>>> ops = Leafops(X86_64_LAYOUT, table, swp_pfn_bits=40, migration_ad=True)
>>> pte = ops.softleaf_to_pte(ops.make_writable_migration_entry(0x1234))
>>> ops.softleaf_type(ops.softleaf_from_pte(pte))
<Kind.MIGRATION_WRITE: 'migration_write'>
"""

import enum
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

__all__ = (
    "BITS_PER_XA_VALUE",
    "Kind",
    "Leafops",
    "PTE_MARKER_GUARD",
    "PTE_MARKER_POISONED",
    "PTE_MARKER_UFFD_WP",
    "SWP_TYPE_SHIFT",
    "SoftleafType",
    "SwapTypeTable",
)

# include/linux/xarray.h: BITS_PER_XA_VALUE is BITS_PER_LONG - 1.
BITS_PER_XA_VALUE = 63
# include/linux/swap.h
MAX_SWAPFILES_SHIFT = 5
# include/linux/swapops.h
SWP_TYPE_SHIFT = BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT
SWP_OFFSET_MASK = (1 << SWP_TYPE_SHIFT) - 1

# include/linux/swapops.h: marker bits.
PTE_MARKER_UFFD_WP = 1 << 0
PTE_MARKER_POISONED = 1 << 1
# Since Linux 6.13 (MADV_GUARD_INSTALL).
PTE_MARKER_GUARD = 1 << 2



class Kind(enum.Enum):
    """
    What a leaf entry is; the values are the names used in output. The
    kinds ``enum softleaf_type`` (include/linux/leafops.h) names, which
    :meth:`Leafops.softleaf_type` returns, plus what a walk adds: present
    entries, ``INVALID`` for a type number this kernel does not define or
    an entry not valid at its level (the kernel would ``VM_WARN_ON_ONCE()``
    and call it none; we never guess), the kernel page tables' own
    non-present entries and unreadable ranges.
    """

    PRESENT = "present"
    NONE = "none"
    SWAP = "swap"
    MIGRATION_READ = "migration_read"
    MIGRATION_READ_EXCLUSIVE = "migration_read_exclusive"
    MIGRATION_WRITE = "migration_write"
    DEVICE_PRIVATE_READ = "device_private_read"
    DEVICE_PRIVATE_WRITE = "device_private_write"
    DEVICE_EXCLUSIVE = "device_exclusive"
    HWPOISON = "hwpoison"
    MARKER = "marker"
    # v5.19 to v6.1: SWP_SWAPIN_ERROR, a swap type of its own (a PTE marker
    # bit since v6.2).
    SWAPIN_ERROR = "swapin_error"
    INVALID = "invalid"
    # A non-present entry of the kernel's own page tables (set_memory_np()
    # and friends leave an inverted pfn): shown raw, never decoded.
    KERNEL_NOT_PRESENT = "kernel_not_present"
    UNREADABLE = "unreadable"

    @property
    def is_migration(self) -> bool:
        return self in _MIGRATION_TYPES

    @property
    def has_pfn(self) -> bool:
        """Whether entries of this kind carry a pfn (present entries
        included)."""
        return self is Kind.PRESENT or self in _PFN_TYPES


# The kinds softleaf_type() returns are those of enum softleaf_type: one
# enum serves both.
SoftleafType = Kind

_MIGRATION_TYPES = frozenset(
    (
        Kind.MIGRATION_READ,
        Kind.MIGRATION_READ_EXCLUSIVE,
        Kind.MIGRATION_WRITE,
    )
)
_DEVICE_PRIVATE_TYPES = frozenset((Kind.DEVICE_PRIVATE_READ, Kind.DEVICE_PRIVATE_WRITE))
# softleaf_has_pfn()
_PFN_TYPES = _MIGRATION_TYPES | _DEVICE_PRIVATE_TYPES | {
    Kind.DEVICE_EXCLUSIVE,
    Kind.HWPOISON,
    # make_swapin_error_entry(): the pfn of the page whose read failed.
    Kind.SWAPIN_ERROR,
}


@dataclass(frozen=True)
class SwapTypeTable:
    """
    The special swap type numbers of one kernel (include/linux/swap.h). They
    are macros, so they are not in the debug info; they follow from which
    parts the kernel's configuration and version have. The special types
    take the top of the 5-bit type space in this order: hwpoison, migration,
    device, marker; ``MAX_SWAPFILES`` is what remains.

    :param hwpoison_num: ``SWP_HWPOISON_NUM``: 1 with CONFIG_MEMORY_FAILURE.
    :param migration_num: ``SWP_MIGRATION_NUM``: 3 with CONFIG_MIGRATION
        (read, read-exclusive, write; 2 before v5.19, without
        read-exclusive), else 0.
    :param device_num: ``SWP_DEVICE_NUM`` with CONFIG_DEVICE_PRIVATE: 3
        (private write, private read, exclusive) since v6.15, 4 (private
        write, private read, exclusive write, exclusive read) in v5.14 to
        v6.14, 2 before; else 0.
    :param marker_num: ``SWP_PTE_MARKER_NUM``: 1 where PTE markers exist.
    :param marker_mask: ``PTE_MARKER_MASK``: 7 with guard markers (v6.13+),
        3 before, 1 (uffd-wp only) from v5.19 to v6.1.
    :param swapin_error_num: ``SWP_SWAPIN_ERROR_NUM``: 1 from v5.19 to
        v6.1, where a swap-in error has a type of its own, after the marker.
    :param swapin_error_marker: Whether marker bit 1 is
        ``PTE_MARKER_SWAPIN_ERROR`` (v6.2 to v6.5), not
        ``PTE_MARKER_POISONED``.
    """

    hwpoison_num: int
    migration_num: int
    device_num: int
    marker_num: int
    marker_mask: int
    swapin_error_num: int = 0
    swapin_error_marker: bool = False

    def __post_init__(self) -> None:
        if self.hwpoison_num not in (0, 1):
            raise ValueError("hwpoison_num must be 0 or 1")
        if self.migration_num not in (0, 2, 3):
            raise ValueError("migration_num must be 0, 2 or 3")
        if self.device_num not in (0, 2, 3, 4):
            raise ValueError("device_num must be 0, 2, 3 or 4")
        if self.marker_num not in (0, 1):
            raise ValueError("marker_num must be 0 or 1")
        if self.swapin_error_num not in (0, 1):
            raise ValueError("swapin_error_num must be 0 or 1")

    @classmethod
    def linux_6_15(cls) -> "SwapTypeTable":
        """The table of v6.15+ with every part configured (e.g. 7.3)."""
        return cls(1, 3, 3, 1, 7)

    @classmethod
    def linux_6_13(cls) -> "SwapTypeTable":
        """The table of v6.13 and v6.14 with every part configured."""
        return cls(1, 3, 4, 1, 7)

    @classmethod
    def linux_6_12(cls) -> "SwapTypeTable":
        """The table of v6.6 to v6.12 with every part configured."""
        return cls(1, 3, 4, 1, 3)

    @classmethod
    def linux_6_1(cls) -> "SwapTypeTable":
        """The table of v5.19 to v6.1 with every part configured
        (CONFIG_PTE_MARKER included): SWP_SWAPIN_ERROR after the marker."""
        return cls(1, 3, 4, 1, 1, swapin_error_num=1)

    def marker_bits(self) -> Tuple[Tuple[int, str], ...]:
        """The marker bits this kernel defines, with their names."""
        names = {PTE_MARKER_UFFD_WP: "uffd_wp",
                 PTE_MARKER_POISONED: "swapin_error" if self.swapin_error_marker else "poison",
                 PTE_MARKER_GUARD: "guard"}
        return tuple((bit, name) for bit, name in names.items() if self.marker_mask & bit)

    @property
    def max_swapfiles(self) -> int:
        """``MAX_SWAPFILES``."""
        return (1 << MAX_SWAPFILES_SHIFT) - (
            self.hwpoison_num + self.migration_num + self.device_num + self.marker_num
            + self.swapin_error_num
        )

    def types(self) -> Tuple[Tuple[SoftleafType, Optional[bool]], ...]:
        """
        Return, for each of the 32 type numbers, its softleaf type and, for
        kinds the kernel splits by access (device-exclusive before v6.15),
        whether it is the writable one (else ``None``).
        """
        out: List[Tuple[SoftleafType, Optional[bool]]] = (
            [(SoftleafType.SWAP, None)] * self.max_swapfiles)
        if self.hwpoison_num:
            out.append((SoftleafType.HWPOISON, None))
        if self.migration_num == 3:
            out += [
                (SoftleafType.MIGRATION_READ, None),
                (SoftleafType.MIGRATION_READ_EXCLUSIVE, None),
                (SoftleafType.MIGRATION_WRITE, None),
            ]
        elif self.migration_num == 2:
            out += [
                (SoftleafType.MIGRATION_READ, None),
                (SoftleafType.MIGRATION_WRITE, None),
            ]
        # SWP_DEVICE_WRITE comes first, then SWP_DEVICE_READ.
        if self.device_num:
            out += [
                (SoftleafType.DEVICE_PRIVATE_WRITE, None),
                (SoftleafType.DEVICE_PRIVATE_READ, None),
            ]
        if self.device_num == 3:
            out.append((SoftleafType.DEVICE_EXCLUSIVE, None))
        elif self.device_num == 4:
            out += [
                (SoftleafType.DEVICE_EXCLUSIVE, True),
                (SoftleafType.DEVICE_EXCLUSIVE, False),
            ]
        if self.marker_num:
            out.append((SoftleafType.MARKER, None))
        if self.swapin_error_num:
            out.append((SoftleafType.SWAPIN_ERROR, None))
        assert len(out) == 1 << MAX_SWAPFILES_SHIFT
        return tuple(out)

    def type_number(self, type: SoftleafType, writable: Optional[bool] = None) -> int:
        """
        Return the swap type number of a special *type* (``SWP_HWPOISON``,
        ``SWP_MIGRATION_READ``, ...).

        :raises ValueError: if this kernel has no such type.
        """
        for num, (t, w) in enumerate(self.types()):
            if t == type and type != SoftleafType.SWAP and w == writable:
                return num
        raise ValueError(f"this kernel has no {type.value} entries")


class Leafops:
    """
    ``include/linux/leafops.h`` for one kernel: the architecture's swap PTE
    encoding, its swap type table and its pfn width. Entries
    (``softleaf_t``) are plain integers in the kernel's arch-independent
    ``swp_entry_t`` format.

    :param layout: An architecture layout from :mod:`drgn_softleaf.arch`.
    :param table: The kernel's swap type table.
    :param swp_pfn_bits: ``SWP_PFN_BITS``: ``MAX_PHYSMEM_BITS - PAGE_SHIFT``.
    :param migration_ad: ``migration_entry_supports_ad()``: whether the
        kernel stores A/D bits in migration entries (the
        ``swap_migration_ad_supported`` variable).
    :param device_private_pmd: Whether device-private entries exist at PMD
        level (device-private THP); before, only migration entries did.
    """

    def __init__(
        self, layout: Any, table: SwapTypeTable, swp_pfn_bits: int, migration_ad: bool,
        device_private_pmd: bool = True,
    ) -> None:
        self.layout = layout
        self.table = table
        self.max_swapfiles = table.max_swapfiles
        self.swp_pfn_bits = swp_pfn_bits
        self.swp_pfn_mask = (1 << swp_pfn_bits) - 1
        # SWP_MIG_YOUNG_BIT and SWP_MIG_DIRTY_BIT.
        self.swp_mig_young = 1 << swp_pfn_bits
        self.swp_mig_dirty = 1 << (swp_pfn_bits + 1)
        self.migration_ad = migration_ad
        self.device_private_pmd = device_private_pmd
        # A swap PTE can hold a type field wider than MAX_SWAPFILES_SHIFT
        # (arm64 before v5.19: __SWP_TYPE_BITS 6): numbers no kernel
        # defines are invalid.
        types = table.types()
        width = 1 << max(5, layout.swp_type_bits)
        self.types = types + ((SoftleafType.INVALID, None),) * (width - len(types))

    # -- swp_entry_t (include/linux/swapops.h) --------------------------------

    @staticmethod
    def swp_entry(type: int, offset: int) -> int:
        """``swp_entry()``."""
        return (type << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)

    @staticmethod
    def swp_type(entry: int) -> int:
        """``swp_type()``."""
        return entry >> SWP_TYPE_SHIFT

    @staticmethod
    def swp_offset(entry: int) -> int:
        """``swp_offset()``."""
        return entry & SWP_OFFSET_MASK

    # -- conversions ---------------------------------------------------------

    def softleaf_from_pte(self, pte: int) -> int:
        """``softleaf_from_pte()``: 0 (none) for a present or none PTE."""
        layout = self.layout
        if layout.pte_present(pte) or layout.pte_none(pte):
            return 0
        arch_entry = layout.pte_swp_clear_flags(pte)
        return self.swp_entry(layout.swp_type(arch_entry), layout.swp_offset(arch_entry))

    def softleaf_from_pmd(self, pmd: int) -> int:
        """``softleaf_from_pmd()``: 0 (none) for a present or none PMD."""
        layout = self.layout
        if layout.pmd_present(pmd) or layout.pmd_none(pmd):
            return 0
        arch_entry = layout.pmd_swp_clear_flags(pmd)
        return self.swp_entry(layout.swp_type(arch_entry), layout.swp_offset(arch_entry))

    def softleaf_to_pte(self, entry: int) -> int:
        """``softleaf_to_pte()`` (``swp_entry_to_pte()``): flags clear."""
        return self.layout.swp_entry(self.swp_type(entry), self.swp_offset(entry))

    softleaf_to_pmd = softleaf_to_pte

    # -- type ----------------------------------------------------------------

    @staticmethod
    def softleaf_is_none(entry: int) -> bool:
        """``softleaf_is_none()``."""
        return entry == 0

    def softleaf_type(self, entry: int) -> SoftleafType:
        """
        ``softleaf_type()``, except that a type number this kernel does not
        define is :attr:`SoftleafType.INVALID`.
        """
        if entry == 0:
            return SoftleafType.NONE
        return self.types[entry >> SWP_TYPE_SHIFT][0]

    def softleaf_writable(self, entry: int) -> Optional[bool]:
        """
        For kinds the kernel splits by access (``SWP_DEVICE_EXCLUSIVE_WRITE``
        and ``_READ`` before v6.15), whether *entry* is the writable one;
        ``None`` for every other kind.
        """
        if entry == 0:
            return None
        return self.types[entry >> SWP_TYPE_SHIFT][1]

    def softleaf_is_swap(self, entry: int) -> bool:
        """``softleaf_is_swap()``."""
        return self.softleaf_type(entry) == SoftleafType.SWAP

    def softleaf_is_migration_write(self, entry: int) -> bool:
        """``softleaf_is_migration_write()``."""
        return self.softleaf_type(entry) == SoftleafType.MIGRATION_WRITE

    def softleaf_is_migration_read(self, entry: int) -> bool:
        """``softleaf_is_migration_read()``."""
        return self.softleaf_type(entry) == SoftleafType.MIGRATION_READ

    def softleaf_is_migration_read_exclusive(self, entry: int) -> bool:
        """``softleaf_is_migration_read_exclusive()``."""
        return self.softleaf_type(entry) == SoftleafType.MIGRATION_READ_EXCLUSIVE

    def softleaf_is_migration(self, entry: int) -> bool:
        """``softleaf_is_migration()``."""
        return self.softleaf_type(entry) in _MIGRATION_TYPES

    def softleaf_is_device_private_write(self, entry: int) -> bool:
        """``softleaf_is_device_private_write()``."""
        return self.softleaf_type(entry) == SoftleafType.DEVICE_PRIVATE_WRITE

    def softleaf_is_device_private(self, entry: int) -> bool:
        """``softleaf_is_device_private()``."""
        return self.softleaf_type(entry) in _DEVICE_PRIVATE_TYPES

    def softleaf_is_device_exclusive(self, entry: int) -> bool:
        """``softleaf_is_device_exclusive()``."""
        return self.softleaf_type(entry) == SoftleafType.DEVICE_EXCLUSIVE

    def softleaf_is_hwpoison(self, entry: int) -> bool:
        """``softleaf_is_hwpoison()``."""
        return self.softleaf_type(entry) == SoftleafType.HWPOISON

    def softleaf_is_marker(self, entry: int) -> bool:
        """``softleaf_is_marker()``."""
        return self.softleaf_type(entry) == SoftleafType.MARKER

    def softleaf_has_pfn(self, entry: int) -> bool:
        """``softleaf_has_pfn()``."""
        return self.softleaf_type(entry) in _PFN_TYPES

    def softleaf_to_pfn(self, entry: int) -> int:
        """``softleaf_to_pfn()``: *entry* must carry a pfn."""
        return self.swp_offset(entry) & self.swp_pfn_mask

    # -- markers -------------------------------------------------------------

    def softleaf_to_marker(self, entry: int) -> int:
        """``softleaf_to_marker()``: *entry* must be a marker."""
        return self.swp_offset(entry) & self.table.marker_mask

    def softleaf_is_poison_marker(self, entry: int) -> bool:
        """``softleaf_is_poison_marker()``."""
        return self.softleaf_is_marker(entry) and bool(
            self.softleaf_to_marker(entry) & PTE_MARKER_POISONED
        )

    def softleaf_is_guard_marker(self, entry: int) -> bool:
        """``softleaf_is_guard_marker()``."""
        return self.softleaf_is_marker(entry) and bool(
            self.softleaf_to_marker(entry) & PTE_MARKER_GUARD
        )

    def softleaf_is_uffd_wp_marker(self, entry: int) -> bool:
        """``softleaf_is_uffd_wp_marker()``."""
        return self.softleaf_is_marker(entry) and bool(
            self.softleaf_to_marker(entry) & PTE_MARKER_UFFD_WP
        )

    def marker_names(self, entry: int) -> Tuple[str, ...]:
        """The names of the marker bits *entry* carries (``uffd_wp``, ...)."""
        marker = self.softleaf_to_marker(entry)
        return tuple(name for bit, name in self.table.marker_bits() if marker & bit)

    def softleaf_is_swapin_error(self, entry: int) -> bool:
        """``is_swapin_error_entry()`` (include/linux/swapops.h, v5.19 to
        v6.1)."""
        return self.softleaf_type(entry) == SoftleafType.SWAPIN_ERROR

    # -- migration -----------------------------------------------------------

    def softleaf_is_migration_young(self, entry: int) -> bool:
        """``softleaf_is_migration_young()``."""
        if self.migration_ad:
            return bool(self.swp_offset(entry) & self.swp_mig_young)
        return False

    def softleaf_is_migration_dirty(self, entry: int) -> bool:
        """``softleaf_is_migration_dirty()``."""
        if self.migration_ad:
            return bool(self.swp_offset(entry) & self.swp_mig_dirty)
        return False

    def softleaf_is_valid_pmd_entry(self, entry: int) -> bool:
        """``softleaf_is_valid_pmd_entry()``: only device-private and
        migration entries exist at PMD level (for THP); before device-private
        THP, only migration entries (``is_pmd_migration_entry()`` in
        include/linux/swapops.h)."""
        t = self.softleaf_type(entry)
        if t in _DEVICE_PRIVATE_TYPES:
            return self.device_private_pmd
        return t in _MIGRATION_TYPES

    # -- encoders (include/linux/swapops.h) -----------------------------------

    def _make(self, type: SoftleafType, offset: int, writable: Optional[bool] = None) -> int:
        return self.swp_entry(self.table.type_number(type, writable), offset)

    def make_readable_device_private_entry(self, offset: int) -> int:
        """``make_readable_device_private_entry()``."""
        return self._make(SoftleafType.DEVICE_PRIVATE_READ, offset)

    def make_writable_device_private_entry(self, offset: int) -> int:
        """``make_writable_device_private_entry()``."""
        return self._make(SoftleafType.DEVICE_PRIVATE_WRITE, offset)

    def make_device_exclusive_entry(self, offset: int) -> int:
        """``make_device_exclusive_entry()`` (v6.15+)."""
        return self._make(SoftleafType.DEVICE_EXCLUSIVE, offset)

    def make_readable_device_exclusive_entry(self, offset: int) -> int:
        """``make_readable_device_exclusive_entry()`` (v5.14 to v6.14)."""
        return self._make(SoftleafType.DEVICE_EXCLUSIVE, offset, False)

    def make_writable_device_exclusive_entry(self, offset: int) -> int:
        """``make_writable_device_exclusive_entry()`` (v5.14 to v6.14)."""
        return self._make(SoftleafType.DEVICE_EXCLUSIVE, offset, True)

    def make_readable_migration_entry(self, offset: int) -> int:
        """``make_readable_migration_entry()``."""
        return self._make(SoftleafType.MIGRATION_READ, offset)

    def make_readable_exclusive_migration_entry(self, offset: int) -> int:
        """``make_readable_exclusive_migration_entry()``."""
        return self._make(SoftleafType.MIGRATION_READ_EXCLUSIVE, offset)

    def make_writable_migration_entry(self, offset: int) -> int:
        """``make_writable_migration_entry()``."""
        return self._make(SoftleafType.MIGRATION_WRITE, offset)

    def make_migration_entry_young(self, entry: int) -> int:
        """``make_migration_entry_young()``."""
        if self.migration_ad:
            return self.swp_entry(
                self.swp_type(entry), self.swp_offset(entry) | self.swp_mig_young
            )
        return entry

    def make_migration_entry_dirty(self, entry: int) -> int:
        """``make_migration_entry_dirty()``."""
        if self.migration_ad:
            return self.swp_entry(
                self.swp_type(entry), self.swp_offset(entry) | self.swp_mig_dirty
            )
        return entry

    def make_hwpoison_entry(self, pfn: int) -> int:
        """``make_hwpoison_entry()``, given the page's pfn."""
        return self._make(SoftleafType.HWPOISON, pfn)

    def make_pte_marker_entry(self, marker: int) -> int:
        """``make_pte_marker_entry()``."""
        return self._make(SoftleafType.MARKER, marker)

    def make_swapin_error_entry(self, pfn: int) -> int:
        """``make_swapin_error_entry()`` (v5.19 to v6.1)."""
        return self._make(SoftleafType.SWAPIN_ERROR, pfn)

    def make_poisoned_swp_entry(self) -> int:
        """``make_poisoned_swp_entry()``."""
        return self.make_pte_marker_entry(PTE_MARKER_POISONED)

    def make_guard_swp_entry(self) -> int:
        """``make_guard_swp_entry()``."""
        return self.make_pte_marker_entry(PTE_MARKER_GUARD)
