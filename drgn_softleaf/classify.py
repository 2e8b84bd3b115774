# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Classification
--------------

Turn the leaf slots found by :mod:`drgn_softleaf.walk` into
:class:`LeafEntry` records: kind and payload, decoded with the kernel's own
rules per level (:mod:`drgn_softleaf.leafops`). Pure: nothing here reads
memory.
"""

import enum
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple

from drgn_softleaf.leafops import SoftleafType
from drgn_softleaf.target import Target
from drgn_softleaf.walk import HugeLeaf, NoneRange, PteSlots, Unreadable, Vma, WalkItem

__all__ = (
    "Kind",
    "LeafEntry",
    "classify_huge",
    "classify_item",
    "classify_pte_slots",
    "classify_value",
    "count_item",
)


class Kind(enum.Enum):
    """What a leaf entry is. The values are the names used in output."""

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
    INVALID = "invalid"
    UNREADABLE = "unreadable"

    @property
    def is_migration(self) -> bool:
        return self in _MIGRATION_KINDS

    @property
    def has_pfn(self) -> bool:
        """Whether entries of this kind carry a pfn."""
        return self in _PFN_KINDS


_FROM_SOFTLEAF: Dict[SoftleafType, Kind] = {t: Kind(t.value) for t in SoftleafType}
_MIGRATION_KINDS = frozenset(
    (Kind.MIGRATION_READ, Kind.MIGRATION_READ_EXCLUSIVE, Kind.MIGRATION_WRITE)
)
_PFN_KINDS = _MIGRATION_KINDS | {
    Kind.PRESENT,
    Kind.DEVICE_PRIVATE_READ,
    Kind.DEVICE_PRIVATE_WRITE,
    Kind.DEVICE_EXCLUSIVE,
    Kind.HWPOISON,
}
KIND_ORDER: Tuple[Kind, ...] = tuple(Kind)

_LEVEL_SHIFT = {"pte": 12, "pmd": 21, "pud": 30, "p4d": 39, "pgd": 39}


@dataclass(frozen=True)
class LeafEntry:
    """
    One leaf entry and what it means.

    :ivar addr: Start of the range the leaf maps (a PMD or PUD leaf is one
        entry at its aligned address).
    :ivar size: Bytes the leaf maps.
    :ivar level: ``"pte"``, ``"pmd"`` or ``"pud"`` (``"pgd"``/``"p4d"`` only
        for a bad upper-level entry, which is :attr:`Kind.INVALID`).
    :ivar raw: The entry's value as stored.
    :ivar pfn: First pfn mapped (present) or pfn carried (migration,
        device, hwpoison).
    :ivar protnone: Present but PROT_NONE; :attr:`protnone_reason` says why
        (``prot_none``: the VMA has no access; ``uffd_rwp``: userfaultfd
        read-write protection; ``numa_hint``: NUMA balancing).
    :ivar flags: Swap-PTE flag bits set (``soft_dirty``, ``uffd_wp``,
        ``exclusive``) for non-present entries.
    :ivar marker: Marker bits (``uffd_wp``, ``poison``, ``guard``).
    :ivar writable: For kinds the kernel splits by access (device-exclusive
        before 6.15).
    :ivar note: Why an entry is :attr:`Kind.INVALID` or unreadable.
    """

    vma: Optional[Vma]
    addr: int
    size: int
    level: str
    raw: int
    kind: Kind
    pfn: Optional[int] = None
    protnone: bool = False
    protnone_reason: Optional[str] = None
    swap_type: Optional[int] = None
    swap_offset: Optional[int] = None
    flags: Tuple[str, ...] = ()
    marker: Tuple[str, ...] = ()
    mig_young: Optional[bool] = None
    mig_dirty: Optional[bool] = None
    writable: Optional[bool] = None
    note: Optional[str] = None


def _protnone_reason(vma: Optional[Vma]) -> Optional[str]:
    if vma is None:
        return None
    if not vma.accessible:
        return "prot_none"
    if vma.uffd_rwp:
        return "uffd_rwp"
    return "numa_hint"


def _flag_names(value: int, bits: Tuple[Tuple[str, int], ...]) -> Tuple[str, ...]:
    return tuple(name for name, mask in bits if value & mask)


def _softleaf_entry(
    target: Target,
    vma: Optional[Vma],
    addr: int,
    size: int,
    level: str,
    raw: int,
    entry: int,
    flag_bits: Tuple[Tuple[str, int], ...],
) -> LeafEntry:
    ops = target.leafops
    stype = ops.softleaf_type(entry)
    kind = _FROM_SOFTLEAF[stype]
    flags = _flag_names(raw, flag_bits)
    if kind == Kind.SWAP:
        return LeafEntry(
            vma, addr, size, level, raw, kind,
            swap_type=ops.swp_type(entry), swap_offset=ops.swp_offset(entry),
            flags=flags,
        )
    if kind == Kind.MARKER:
        names = ops.marker_names(entry)
        return LeafEntry(
            vma, addr, size, level, raw, kind if names else Kind.INVALID,
            marker=names, flags=flags,
            note=None if names else "marker entry with no marker bit set",
        )
    if kind.is_migration:
        return LeafEntry(
            vma, addr, size, level, raw, kind,
            pfn=ops.softleaf_to_pfn(entry),
            mig_young=ops.softleaf_is_migration_young(entry),
            mig_dirty=ops.softleaf_is_migration_dirty(entry),
            flags=flags,
        )
    return LeafEntry(
        vma, addr, size, level, raw, kind,
        pfn=ops.softleaf_to_pfn(entry), flags=flags,
        writable=ops.softleaf_writable(entry),
    )


def _present(target: Target, vma: Optional[Vma], addr: int, size: int, level: str,
             raw: int) -> LeafEntry:
    layout = target.layout
    protnone = layout.pte_protnone(raw)
    return LeafEntry(
        vma, addr, size, level, raw, Kind.PRESENT,
        pfn=layout.leaf_pfn(raw, _LEVEL_SHIFT[level], target.physical_mask),
        protnone=protnone,
        protnone_reason=_protnone_reason(vma) if protnone else None,
    )


def classify_value(
    target: Target,
    raw: int,
    level: str = "pte",
    *,
    vma: Optional[Vma] = None,
    addr: int = 0,
    hugetlb: Optional[bool] = None,
) -> LeafEntry:
    """
    Classify one raw leaf value as the kernel would at *level*.

    :param level: ``"pte"``, ``"pmd"`` or ``"pud"``.
    :param hugetlb: Whether the entry belongs to a hugetlb VMA (hugetlb PMD
        and PUD entries follow the PTE rules); default from *vma*, else
        false.
    """
    layout = target.layout
    if hugetlb is None:
        hugetlb = vma.hugetlb if vma is not None else False
    size = 1 << _LEVEL_SHIFT.get(level, 12)
    if layout.pte_none(raw):
        return LeafEntry(vma, addr, size, level, raw, Kind.NONE)
    if level == "pte" or (hugetlb and level in ("pmd", "pud")):
        if layout.pte_present(raw):
            return _present(target, vma, addr, size, level, raw)
        return _softleaf_entry(
            target, vma, addr, size, level, raw,
            target.leafops.softleaf_from_pte(raw), layout.swp_flag_bits,
        )
    if level == "pmd":
        if layout.pmd_present(raw):
            if not layout.pmd_leaf(raw):
                return LeafEntry(vma, addr, size, level, raw, Kind.INVALID,
                                 note="PMD entry points to a table")
            return _present(target, vma, addr, size, level, raw)
        entry = target.leafops.softleaf_from_pmd(raw)
        if not target.leafops.softleaf_is_valid_pmd_entry(entry):
            leaf = _softleaf_entry(target, vma, addr, size, level, raw, entry,
                                   layout.pmd_swp_flag_bits)
            return LeafEntry(vma, addr, size, level, raw, Kind.INVALID,
                             flags=leaf.flags,
                             note=f"{leaf.kind.value} entry is not valid at PMD level")
        return _softleaf_entry(target, vma, addr, size, level, raw, entry,
                               layout.pmd_swp_flag_bits)
    if level == "pud":
        if layout.pud_present(raw) and layout.pud_leaf(raw):
            return _present(target, vma, addr, size, level, raw)
        return LeafEntry(vma, addr, size, level, raw, Kind.INVALID,
                         note="non-present PUD entry outside hugetlb")
    return LeafEntry(vma, addr, size, level, raw, Kind.INVALID,
                     note=f"bad {level.upper()} entry")


def classify_huge(target: Target, leaf: HugeLeaf) -> LeafEntry:
    """Classify a PMD or PUD leaf found by the walk."""
    return classify_value(target, leaf.value, leaf.level, vma=leaf.vma, addr=leaf.addr)


def classify_pte_slots(
    target: Target, slots: PteSlots, *, include_none: bool = False
) -> Iterator[LeafEntry]:
    """Classify the non-none slots of a PTE table (all with *include_none*)."""
    vma = slots.vma
    base = slots.base
    values = slots.values
    none_ignore = ~target.layout.none_ignore_mask
    for i in range(slots.first, slots.stop):
        v = values[i]
        if not v & none_ignore and not include_none:
            continue
        yield classify_value(target, v, "pte", vma=vma, addr=base + (i << 12))


def classify_item(
    target: Target, item: WalkItem, *, include_none: bool = False
) -> Iterator[LeafEntry]:
    """Classify one walk item into leaf entries (unreadable ranges with
    *include_none*, as they are incomplete rather than entries)."""
    if isinstance(item, PteSlots):
        yield from classify_pte_slots(target, item, include_none=include_none)
    elif isinstance(item, HugeLeaf):
        yield classify_huge(target, item)
    elif isinstance(item, NoneRange):
        if include_none:
            yield LeafEntry(item.vma, item.start, item.end - item.start, item.level, 0,
                            Kind.NONE)
    elif isinstance(item, Unreadable):
        if include_none:
            yield LeafEntry(item.vma, item.start, item.end - item.start, item.level, 0,
                            Kind.UNREADABLE, note=item.reason)


def count_item(target: Target, item: WalkItem, counts: Counter) -> None:
    """
    Add the leaf entries of *item* to *counts* (by :class:`Kind`, counting
    none PTE slots too, and unreadable bytes under :attr:`Kind.UNREADABLE`).
    """
    if isinstance(item, PteSlots):
        values = item.values
        none_ignore = ~target.layout.none_ignore_mask
        nonnone = 0
        for i in range(item.first, item.stop):
            v = values[i]
            if v & none_ignore:
                nonnone += 1
                counts[classify_value(target, v, "pte", vma=item.vma).kind] += 1
        counts[Kind.NONE] += item.stop - item.first - nonnone
    elif isinstance(item, HugeLeaf):
        counts[classify_huge(target, item).kind] += 1
    elif isinstance(item, Unreadable):
        counts[Kind.UNREADABLE] += 1
