# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Classification
--------------

Turn the leaf slots found by :mod:`drgn_softleaf.walk` into
:class:`LeafEntry` records: kind and payload, decoded with the kernel's own
rules per level (:mod:`drgn_softleaf.leafops`). Pure: nothing here reads
memory.
"""

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

from drgn_softleaf.leafops import Kind
from drgn_softleaf.target import Target
from drgn_softleaf.vma import Vma
from drgn_softleaf.walk import HugeLeaf, NoneRange, PteSlots, Unreadable, WalkItem

__all__ = (
    "Kind",
    "LeafEntry",
    "classify_huge",
    "classify_item",
    "classify_pte_slots",
    "classify_value",
    "count_item",
    "protnone_reason",
    "swp_flag_bits",
)


KIND_ORDER: Tuple[Kind, ...] = tuple(Kind)


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
        (``prot_none``: the VMA has no access; ``uffd_rwp``: armed by
        userfaultfd read-write protection; ``numa_hint``: NUMA balancing).
    :ivar flags: Software bits set: of a present entry (``soft_dirty``,
        ``uffd_wp``), or the swap-PTE flag bits of a non-present one
        (``soft_dirty``, ``uffd_wp``, ``exclusive``); in a userfaultfd
        read-write-protect VMA the uffd bit is ``uffd_rwp``.
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


def protnone_reason(vma: Optional[Vma], flags: Tuple[str, ...] = ()) -> Optional[str]:
    """
    Why a PROT_NONE entry of *vma* with the software *flags* (as
    :func:`present_flag_bits` names them) is PROT_NONE (see
    :class:`LeafEntry`): the VMA has no access; or, in a userfaultfd
    read-write-protect VMA, the entry carries the uffd bit
    (``userfaultfd_pte_rwp()`` in include/linux/userfaultfd_k.h); or else a
    NUMA-balancing hint, which RWP VMAs get too (change_pte_range() in
    mm/mprotect.c).
    """
    if vma is None:
        return None
    if not vma.accessible:
        return "prot_none"
    if vma.uffd_rwp and "uffd_rwp" in flags:
        return "uffd_rwp"
    return "numa_hint"


def _uffd_named(vma: Optional[Vma], bits: Tuple[Tuple[str, int], ...]
                ) -> Tuple[Tuple[str, int], ...]:
    """*bits* with the userfaultfd bit named for *vma*: since VM_UFFD_RWP,
    the one bit (``_PAGE_UFFD``, ``pte_swp_uffd()``) means uffd-wp in a
    write-protect VMA and read-write protection armed in an RWP VMA
    (``userfaultfd_pte_rwp()``; pagemap reports either as PM_UFFD_WP)."""
    if vma is None or not vma.uffd_rwp:
        return bits
    return tuple(("uffd_rwp" if name == "uffd_wp" else name, mask) for name, mask in bits)


def present_flag_bits(target: Target, vma: Optional[Vma]) -> Tuple[Tuple[str, int], ...]:
    """
    The software bits a present entry of *vma* reports (name, mask):
    soft-dirty and uffd-wp, but not soft-dirty in a hugetlb VMA, which the
    kernel does not track there (pagemap_hugetlb_range() in
    fs/proc/task_mmu.c looks only at VM_SOFTDIRTY and huge_pte_uffd()), and
    none in the kernel's own page tables.
    """
    bits = _uffd_named(vma, target.layout.present_flag_bits)
    if vma is not None and vma.kernel:
        # The kernel's own entries use these bits for other ends
        # (_PAGE_KERNEL_4K, _PAGE_CPA_TEST...).
        return ()
    if vma is not None and vma.hugetlb:
        return tuple(b for b in bits if b[0] != "soft_dirty")
    return bits


def swp_flag_bits(target: Target, vma: Optional[Vma], level: str = "pte"
                  ) -> Tuple[Tuple[str, int], ...]:
    """The swap-PTE (or PMD) flag bits of a non-present entry of *vma*
    (name, mask), the userfaultfd bit named for the VMA."""
    layout = target.layout
    return _uffd_named(vma, layout.pmd_swp_flag_bits if level == "pmd"
                       else layout.swp_flag_bits)


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
    flags = _flag_names(raw, flag_bits)
    if entry == 0:
        # A non-none, non-present entry that decodes to swap type 0 offset 0:
        # softleaf_type() would call it none, but no PTE holds it (offset 0
        # is a swap device's header).
        return LeafEntry(vma, addr, size, level, raw, Kind.INVALID, flags=flags,
                         note="non-present entry decodes to the none entry (swap 0:0)")
    kind = ops.softleaf_type(entry)
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
    flags = _flag_names(raw, present_flag_bits(target, vma))
    return LeafEntry(
        vma, addr, size, level, raw, Kind.PRESENT,
        pfn=layout.leaf_pfn(raw, target.level_shift(level), target.physical_mask),
        protnone=protnone,
        protnone_reason=protnone_reason(vma, flags) if protnone else None,
        flags=flags,
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
    size = 1 << target.level_shift(level)
    if layout.pte_none(raw):
        return LeafEntry(vma, addr, size, level, raw, Kind.NONE)
    if vma is not None and vma.kernel:
        present = layout.pte_present(raw) if level == "pte" else (
            layout.pud_present(raw) and layout.pud_leaf(raw) if level == "pud"
            else layout.pmd_present(raw) and layout.pmd_leaf(raw))
        if present:
            return _present(target, vma, addr, size, level, raw)
        return LeafEntry(vma, addr, size, level, raw, Kind.KERNEL_NOT_PRESENT,
                         note="kernel page table: not a softleaf entry")
    if level == "pte" or (hugetlb and level in ("pmd", "pud")):
        if layout.pte_present(raw):
            return _present(target, vma, addr, size, level, raw)
        return _softleaf_entry(
            target, vma, addr, size, level, raw,
            target.leafops.softleaf_from_pte(raw), swp_flag_bits(target, vma),
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
                                   swp_flag_bits(target, vma, "pmd"))
            return LeafEntry(vma, addr, size, level, raw, Kind.INVALID,
                             flags=leaf.flags,
                             note=f"{leaf.kind.value} entry is not valid at PMD level")
        return _softleaf_entry(target, vma, addr, size, level, raw, entry,
                               swp_flag_bits(target, vma, "pmd"))
    if level == "pud":
        if layout.pud_present(raw):
            if not layout.pud_leaf(raw):
                return LeafEntry(vma, addr, size, level, raw, Kind.INVALID,
                                 note="present PUD entry that is not a leaf (pud_bad())")
            return _present(target, vma, addr, size, level, raw)
        if layout.pud_leaf(raw):
            # pud_present() looks at the present bit alone, but a huge PUD
            # leaf keeps its leaf bit when that is clear: PROT_NONE
            # (change_huge_pud() on DAX or a huge PFNMAP), or being changed
            # (pudp_invalidate()); its pfn is stored inverted.
            leaf = _present(target, vma, addr, size, level, raw)
            if leaf.protnone:
                return leaf
            return dataclasses.replace(leaf, note="invalidated while being changed "
                                       "(pudp_invalidate())")
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
        yield classify_value(target, v, "pte", vma=vma,
                             addr=base + (i << target.layout.page_shift))


def classify_item(
    target: Target, item: "WalkItem | list[PteSlots]", *, include_none: bool = False
) -> Iterator[LeafEntry]:
    """
    Classify one walk item, or a group of PTE tables from
    :func:`batch_items`, into leaf entries (none entries, and unreadable
    ranges, only with *include_none*).
    """
    if isinstance(item, list):
        if include_none:
            for slots in item:
                yield from classify_pte_slots(target, slots, include_none=True)
        else:
            yield from batch_entries(target, classify_pte_batch(target, item))
    elif isinstance(item, PteSlots):
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


def count_item(target: Target, item: "WalkItem | list[PteSlots]", counts: Counter,
               check: Optional[Any] = None) -> None:
    """
    Add the leaf entries of *item* (a walk item, or a group of PTE tables
    from :func:`batch_items`) to *counts* (by :class:`Kind`, counting none
    PTE slots too, and unreadable ranges under :attr:`Kind.UNREADABLE`).

    :param check: If given, an object with the methods ``ptes()`` and
        ``entry()`` of :class:`drgn_softleaf.checks.ImpossibleCounter`,
        shown what is counted.
    """
    if isinstance(item, list):
        count_pte_group(target, item, counts, check)
    elif isinstance(item, PteSlots):
        count_pte_group(target, [item], counts, check)
    elif isinstance(item, HugeLeaf):
        entry = classify_huge(target, item)
        counts[entry.kind] += 1
        if check is not None:
            check.entry(entry)
    elif isinstance(item, Unreadable):
        counts[Kind.UNREADABLE] += 1


@dataclass
class PteBatch:
    """
    Consecutive PTE tables of one VMA, classified at once with the
    architecture's vector layout. Only the non-none slots are kept.

    :ivar slots: Slots covered (none included).
    :ivar addrs: Addresses of the non-none slots (``uint64`` array).
    :ivar raws: Their values.
    :ivar codes: Their kinds, as indexes into :data:`KIND_ORDER`.
    """

    vma: Vma
    slots: int
    addrs: Any
    raws: Any
    codes: Any

    def counts(self) -> Counter:
        """Leaf entries per kind, none included."""
        import numpy as np

        counts: Counter = Counter()
        for code, n in enumerate(np.bincount(self.codes, minlength=len(KIND_ORDER)).tolist()):
            if n:
                counts[KIND_ORDER[code]] = n
        counts[Kind.NONE] += self.slots - len(self.codes)
        return counts


_PRESENT_CODE = KIND_ORDER.index(Kind.PRESENT)


def present_code() -> int:
    """The code of :attr:`Kind.PRESENT` in :attr:`PteBatch.codes`."""
    return _PRESENT_CODE


def kind_code(kind: Kind) -> int:
    """The code of *kind* in :attr:`PteBatch.codes`."""
    return KIND_ORDER.index(kind)


_MARKER_CODE = KIND_ORDER.index(Kind.MARKER)
_INVALID_CODE = KIND_ORDER.index(Kind.INVALID)


def _type_codes(target: Target) -> Any:
    """Kind code of each swap type number (cached on the target's leafops)."""
    import numpy as np

    ops = target.leafops
    codes = ops.__dict__.get("_kind_codes")
    if codes is None:
        codes = np.array([KIND_ORDER.index(t) for t, _ in ops.types],
                         dtype=np.uint8)
        ops.__dict__["_kind_codes"] = codes
    return codes


def _special_codes(target: Target, vec: Any, sraws: Any) -> Any:
    """Kind codes of non-present, non-none PTE values."""
    import numpy as np

    types = vec.swp_type(sraws)
    codes = _type_codes(target)[types.astype(np.intp)]
    # Swap type 0 offset 0 decodes to the none entry: invalid (see
    # _softleaf_entry()).
    zero = (types == 0) & (vec.swp_offset(sraws) == 0)
    if zero.any():
        codes[zero] = _INVALID_CODE
    # A marker with no marker bit set is not a valid entry.
    markers = codes == _MARKER_CODE
    if markers.any():
        bits = vec.swp_offset(sraws[markers]) & np.uint64(target.table.marker_mask)
        mcodes = codes[markers]
        mcodes[bits == 0] = _INVALID_CODE
        codes[markers] = mcodes
    return codes


def classify_pte_batch(target: Target, group: "list[PteSlots]") -> PteBatch:
    """Classify the slots of *group* (PTE tables of one VMA, in order)."""
    import numpy as np

    vec = target.layout.vector()
    arrays = []
    starts = []
    lengths = []
    shift = target.layout.page_shift
    for s in group:
        arrays.append(np.frombuffer(s.values, dtype=np.uint64)[s.first:s.stop])
        starts.append(s.base + (s.first << shift))
        lengths.append(s.stop - s.first)
    values = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    idx = np.flatnonzero(vec.pte_nonnone(values))
    raws = values[idx]
    if len(group) == 1:
        addrs = np.uint64(starts[0]) + (idx.astype(np.uint64) << np.uint64(shift))
    else:
        offsets = np.cumsum([0] + lengths[:-1])
        table = np.searchsorted(offsets, idx, side="right") - 1
        addrs = np.array(starts, dtype=np.uint64)[table] + (
            (idx - offsets[table]).astype(np.uint64) << np.uint64(shift)
        )
    codes = np.full(len(raws), _PRESENT_CODE, dtype=np.uint8)
    swp = ~vec.pte_present(raws)
    if group[0].vma.kernel:
        codes[swp] = KIND_ORDER.index(Kind.KERNEL_NOT_PRESENT)
    elif swp.any():
        codes[swp] = _special_codes(target, vec, raws[swp])
    return PteBatch(group[0].vma, int(sum(lengths)), addrs, raws, codes)


def batch_items(
    items: "Iterator[WalkItem]", max_tables: int = 256, by_vma: bool = True
) -> Iterator[Any]:
    """
    Group consecutive :class:`PteSlots` (of the same VMA, with *by_vma*)
    into lists of at most *max_tables* (so memory stays bounded); other
    items pass through in order.
    """
    group: list = []
    for item in items:
        if isinstance(item, PteSlots):
            if group and ((by_vma and item.vma is not group[0].vma)
                          or len(group) >= max_tables):
                yield group
                group = []
            group.append(item)
        else:
            if group:
                yield group
                group = []
            yield item
    if group:
        yield group


def batch_entries(target: Target, batch: PteBatch) -> Iterator[LeafEntry]:
    """The leaf entries of a batch, in address order: present entries from
    the vector decoding, the others through :func:`classify_value`."""
    vma = batch.vma
    vec = target.layout.vector()
    present = batch.codes == _PRESENT_CODE
    pfns = vec.pte_pfn(batch.raws, target.physical_mask).tolist()
    protnone = vec.pte_protnone(batch.raws).tolist()
    bits = present_flag_bits(target, vma)
    size = 1 << target.layout.page_shift
    for addr, raw, is_present, pfn, pn in zip(batch.addrs.tolist(), batch.raws.tolist(),
                                              present.tolist(), pfns, protnone):
        if is_present:
            flags = tuple(name for name, mask in bits if raw & mask)
            yield LeafEntry(vma, addr, size, "pte", raw, Kind.PRESENT, pfn=pfn, protnone=pn,
                            protnone_reason=protnone_reason(vma, flags) if pn else None,
                            flags=flags)
        else:
            yield classify_value(target, raw, "pte", vma=vma, addr=addr)


def count_pte_group(target: Target, group: "list[PteSlots]", counts: Counter,
                    check: Optional[Any] = None) -> None:
    """
    Add the kinds of the slots of *group* to *counts*: the counting-only form
    of :func:`classify_pte_batch` (no addresses), for whole-system summaries.
    Present and none slots are counted without selecting them; only the
    few others are picked out and classified. *check*: see
    :func:`count_item`.
    """
    import numpy as np

    vec = target.layout.vector()
    values = np.frombuffer(b"".join([s.values[s.first:s.stop] for s in group]),
                           dtype=np.uint64)
    nonnone = vec.pte_nonnone(values)
    present = vec.pte_present(values)
    nnonnone = int(np.count_nonzero(nonnone))
    npresent = int(np.count_nonzero(present))
    counts[Kind.NONE] += len(values) - nnonnone
    if npresent:
        counts[Kind.PRESENT] += npresent
    if group[0].vma.kernel:
        counts[Kind.KERNEL_NOT_PRESENT] += nnonnone - npresent
        return
    svalues = scodes = None
    if npresent != nnonnone:
        svalues = values[nonnone & ~present]
        scodes = _special_codes(target, vec, svalues)
        for code, n in enumerate(np.bincount(scodes, minlength=len(KIND_ORDER)).tolist()):
            if n:
                counts[KIND_ORDER[code]] += n
    if check is not None:
        check.ptes(group, values, present if npresent else None, svalues, scodes)


def select_pte_group(target: Target, group: "list[PteSlots]",
                     skip: Tuple[Kind, ...]) -> Tuple[int, List[Tuple[int, int]]]:
    """
    Pick out of *group* (PTE tables of one VMA, in order) the non-none
    entries of kinds other than *skip*, as (address, value) in address
    order, and count the others: the selecting form of
    :func:`count_pte_group`, for triage, which decodes only the few
    entries that can be findings. Only present entries or markers may be
    skipped.
    """
    import numpy as np

    assert set(skip) <= {Kind.PRESENT, Kind.MARKER}
    vec = target.layout.vector()
    values = np.frombuffer(b"".join([s.values[s.first:s.stop] for s in group]),
                           dtype=np.uint64)
    nonnone = vec.pte_nonnone(values)
    present = vec.pte_present(values) & nonnone
    special = np.flatnonzero(nonnone & ~present)
    quiet = int(np.count_nonzero(present)) if Kind.PRESENT in skip else 0
    keep = special
    if len(special):
        codes = _special_codes(target, vec, values[special])
        if Kind.MARKER in skip:
            markers = codes == _MARKER_CODE
            quiet += int(np.count_nonzero(markers))
            keep = special[~markers]
    if Kind.PRESENT not in skip:
        keep = np.sort(np.concatenate([keep, np.flatnonzero(present)]))
    if not len(keep):
        return quiet, []
    lengths = [s.stop - s.first for s in group]
    offsets = np.cumsum([0] + lengths[:-1])
    table = np.searchsorted(offsets, keep, side="right") - 1
    shift = target.layout.page_shift
    out = []
    for i, t in zip(keep.tolist(), table.tolist()):
        s = group[t]
        out.append((s.base + ((s.first + i - int(offsets[t])) << shift), int(values[i])))
    return quiet, out
