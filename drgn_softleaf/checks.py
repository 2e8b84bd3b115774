# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Impossible entries
------------------

The checks every listing and count applies to a leaf entry: states the
kernel never creates, each rule one small function that names the kernel
code it mirrors. They need a little of the kernel's state (the memory map's
extent, the swap devices), read once per program into a
:class:`MemoryMap` and an :class:`~drgn_softleaf.enrich.Enricher`; the
checks themselves never read memory.

A check that cannot decide (the memory map cannot be read, no
``highest_memmap_pfn`` to compare with) says nothing: an impossible entry is
only reported on evidence.

>>> checker = get_checker(prog)
>>> checker.entry_anomalies(entry, swap_info)
(EntryAnomaly(what='swap-no-device', detail='swap entry for type 3, ...'),)
"""

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple, TypeVar

from drgn import FaultError, Object, Program

from drgn_softleaf.classify import Kind, LeafEntry
from drgn_softleaf.enrich import SwapInfo
from drgn_softleaf.probe import is_live
from drgn_softleaf.target import get_target

__all__ = (
    "EntryAnomaly",
    "ImpossibleCounter",
    "MemoryMap",
    "check_invalid",
    "check_pfn_memmap",
    "check_present_pfn",
    "check_special_pte",
    "check_swap_slot",
    "entry_anomalies",
    "get_memory_map",
    "get_special_pages",
    "pfn_valid",
    "present_suspects",
    "SpecialPages",
)

_CACHE_KEY = "drgn_softleaf.memory_map"


@dataclass(frozen=True)
class EntryAnomaly:
    """
    Why one leaf entry is impossible.

    :ivar what: A short name (``no-memmap``, ``pfn-beyond-memmap``, ``bad-special``,
        ``swap-no-device``, ``swap-past-end``, ``invalid``), the same names
        the ``leaks`` report uses.
    :ivar detail: One line for people.
    """

    what: str
    detail: str


@dataclass(frozen=True)
class MemoryMap:
    """
    The extent of the memory map (``struct page`` array), read once.

    :ivar highest_memmap_pfn: ``highest_memmap_pfn`` (mm/memory.c): the
        highest pfn that has a ``struct page``; ``None`` if unknown.
    :ivar section_shift: ``SECTION_SIZE_BITS - PAGE_SHIFT``: pfn to section.
    :ivar valid_sections: Per section number, whether it has a memory map
        (``valid_section()``), as a NumPy ``bool`` array; ``None`` if the
        sections cannot be read.
    :ivar error: Why the memory map could not be read, if it could not.
    """

    highest_memmap_pfn: Optional[int]
    section_shift: Optional[int]
    valid_sections: Any
    error: Optional[str] = None

    def section_valid(self, pfn: int) -> Optional[bool]:
        """Whether *pfn*'s section has a memory map; ``None`` if unknown."""
        if self.valid_sections is None or self.section_shift is None:
            return None
        nr = pfn >> self.section_shift
        return nr < len(self.valid_sections) and bool(self.valid_sections[nr])

    def pfns_without_memmap(self, pfns: Any) -> Any:
        """
        The NumPy form of the two memory-map tests of
        :func:`check_present_pfn` over an array of pfns: ``True`` where the
        pfn is above ``highest_memmap_pfn`` or in a section without a memory
        map.
        """
        import numpy as np

        bad = np.zeros(len(pfns), dtype=bool)
        if self.highest_memmap_pfn is not None:
            bad |= pfns > np.uint64(self.highest_memmap_pfn)
        if self.valid_sections is not None and self.section_shift is not None:
            lut = self.valid_sections
            nr = np.minimum(pfns >> np.uint64(self.section_shift), np.uint64(len(lut) - 1))
            bad |= ~lut[nr.astype(np.intp)]
        return bad


def present_suspects(prog: Program, raws: Any, pfns: Any, present: Any) -> Any:
    """
    The NumPy prefilter of :func:`check_present_pfn` and
    :func:`check_special_pte` over PTE values and their pfns: the present,
    non-special entries whose pfn has no memory map, and the present special
    entries that map neither a zero page nor a devmap page. Only these can
    be impossible; whether they are depends on their VMA, which the caller
    judges one by one (they are rare).
    """
    import numpy as np

    memmap = get_memory_map(prog)
    special_pages = get_special_pages(prog)
    special = (raws & np.uint64(get_target(prog).layout.special_mask)) != 0
    out = present & ~special & memmap.pfns_without_memmap(pfns)
    if special_pages.error is None:
        out |= present & special & special_pages.unexplained(raws, pfns)
    return out


def get_memory_map(prog: Program) -> MemoryMap:
    """
    Return the :class:`MemoryMap` of *prog*, reading it on first use. A
    live kernel's is read again after a few seconds: memory can be added
    (virtio-mem, device memory) or removed while a drgn session lasts.
    """
    return _cached(prog, _CACHE_KEY, _read_memory_map)


# How long what a live kernel's state says is trusted (a command's length).
_LIVE_SECONDS = 5.0

T = TypeVar("T")


def _cached(prog: Program, key: str, read: Callable[[Program], T]) -> T:
    """``read(prog)``, cached in ``prog.cache`` under *key*: for good in a
    dump, for :data:`_LIVE_SECONDS` on a live kernel."""
    import time

    cached = prog.cache.get(key)
    if cached is not None and (not is_live(prog) or time.monotonic() - cached[0] < _LIVE_SECONDS):
        return cached[1]
    value = read(prog)
    prog.cache[key] = (time.monotonic(), value)
    return value


def _read_memory_map(prog: Program) -> MemoryMap:
    try:
        highest: Optional[int] = prog["highest_memmap_pfn"].value_()
    except (KeyError, FaultError):
        highest = None
    try:
        shift = (prog["SECTION_SIZE_BITS"] - prog["PAGE_SHIFT"]).value_()
        valid = _valid_sections(prog)
    except FaultError as e:
        return MemoryMap(highest, None, None, error=f"memory sections unreadable: {e}")
    except LookupError:
        # Not SPARSEMEM: no sections to check.
        return MemoryMap(highest, None, None)
    except ValueError as e:
        return MemoryMap(highest, None, None, error=f"memory sections: {e}")
    return MemoryMap(highest, shift, valid)


def _valid_sections(prog: Program) -> Any:
    """
    ``valid_section()`` (include/linux/mmzone.h) of every section, as a
    NumPy ``bool`` array indexed by section number, with one slot past the
    last valid section standing for every higher one. The section table is
    read a root at a time (``mem_section`` is an array of roots of
    ``SECTIONS_PER_ROOT`` sections, behind pointers with
    SPARSEMEM_EXTREME).
    """
    import numpy as np
    from drgn import TypeKind, offsetof, sizeof

    # SECTION_HAS_MEM_MAP is bit 1 of section_mem_map; since Linux 5.x an
    # enum names the bit.
    try:
        has_mem_map = 1 << prog.constant("SECTION_HAS_MEM_MAP_BIT").value_()
    except LookupError:
        has_mem_map = 1 << 1
    t = prog.type("struct mem_section")
    ms_size = sizeof(t)
    off = offsetof(t, "section_mem_map")
    per_root = prog["SECTIONS_PER_ROOT"].value_()
    mem_section = prog["mem_section"]
    target = get_target(prog)
    nr_sections = 1 << (target.max_physmem_bits - prog["SECTION_SIZE_BITS"].value_())
    nr_roots = -(-nr_sections // per_root)
    read = prog.read
    if mem_section.type_.unaliased_kind() == TypeKind.POINTER:
        base = mem_section.value_()
        if not base:
            raise ValueError("mem_section is not set up")
        roots = np.frombuffer(read(base, 8 * nr_roots), dtype=np.uint64).tolist()
    else:
        first = mem_section.address_
        roots = [first + i * per_root * ms_size for i in range(min(nr_roots, len(mem_section)))]
    valid: list = []
    for i, root in enumerate(roots):
        if not root:
            continue
        words = np.frombuffer(read(root, per_root * ms_size), dtype=np.uint64)
        maps = words[off // 8::ms_size // 8]
        valid.extend((np.flatnonzero(maps & np.uint64(has_mem_map)) + i * per_root).tolist())
    lut = np.zeros((max(valid) + 2) if valid else 1, dtype=bool)
    lut[valid] = True
    return lut


# include/linux/mmzone.h: every architecture's subsections are 2 MiB.
_SUBSECTION_SHIFT = 21


def pfn_valid(prog: Program, pfn: int) -> Optional[bool]:
    """
    The kernel's ``pfn_valid()`` for SPARSEMEM (include/linux/mmzone.h),
    subsections included; ``None`` if the sections cannot be read (a
    filtered or truncated dump).
    """
    from drgn.helpers.linux.mmzone import early_section, pfn_to_section, valid_section

    try:
        ms = pfn_to_section(prog, pfn)
        if not ms or not valid_section(ms):
            return False
        if early_section(ms):
            return True
        # pfn_section_valid(): the subsection map (2 MiB subsections,
        # SUBSECTION_SHIFT, include/linux/mmzone.h).
        shift = get_memory_map(prog).section_shift
        if shift is None:
            return None
        page_shift = prog["PAGE_SHIFT"].value_()
        idx = (pfn & ((1 << shift) - 1)) >> (_SUBSECTION_SHIFT - page_shift)
        word = ms.usage.subsection_map[idx // 64].value_()
        return bool(word & (1 << (idx % 64)))
    except FaultError:
        return None
    except (LookupError, ValueError, IndexError):
        return False


@dataclass(frozen=True)
class SpecialPages:
    """
    What a special PTE may map outside VM_PFNMAP and VM_MIXEDMAP VMAs
    (``__vm_normal_page()`` in mm/memory.c, ``vm_normal_page()`` before
    Linux 7.x): a shared zero page, or, while the kernel has
    ``pte_devmap()``, a page marked devmap. Read once per program.

    :ivar zero: (first pfn, number of pfns) of the shared zero pages:
        ``is_zero_pfn()`` (``zero_page_pfn``, ``zero_pfn`` before Linux 7.x;
        ``zero_page_mask`` more where zero pages are coloured) and
        ``is_huge_zero_pfn()`` (the huge zero folio at ``huge_zero_pfn``, a
        PMD's worth of pages, once allocated).
    :ivar devmap_mask: The ``pte_devmap()`` bit where the kernel has one
        (until Linux 6.17, with ``follow_devmap_pmd()`` and ``pfn_t``), else 0.
    :ivar vm_ops_hook: The ``struct vm_operations_struct`` member through
        which a VMA owns the pages of its special entries
        (``find_special_page``; ``find_normal_page`` with
        CONFIG_FIND_NORMAL_PAGE), if the kernel has one.
    :ivar error: Why the zero page's pfn is unknown: then no special entry
        is judged.
    """

    zero: Tuple[Tuple[int, int], ...]
    devmap_mask: int
    vm_ops_hook: Optional[str]
    error: Optional[str] = None

    def explains(self, raw: int, pfn: int) -> bool:
        """Whether a special PTE *raw* for *pfn* is one the kernel accepts
        whatever its VMA (a zero page, a devmap page)."""
        return bool(raw & self.devmap_mask) or any(
            start <= pfn < start + n for start, n in self.zero)

    def unexplained(self, raws: Any, pfns: Any) -> Any:
        """The NumPy form of ``not explains()``."""
        import numpy as np

        out = (raws & np.uint64(self.devmap_mask)) == 0
        for start, n in self.zero:
            out &= (pfns < np.uint64(start)) | (pfns >= np.uint64(start + n))
        return out


def get_special_pages(prog: Program) -> SpecialPages:
    """Return the :class:`SpecialPages` of *prog*, reading them on first use
    (on a live kernel, again after a few seconds: the huge zero folio is
    allocated on first use and may be freed)."""
    return _cached(prog, _SPECIAL_KEY, _read_special_pages)


_SPECIAL_KEY = "drgn_softleaf.special_pages"


def _read_special_pages(prog: Program) -> SpecialPages:
    from drgn import TypeKind

    from drgn_softleaf.probe import has_member, has_symbol, has_type

    target = get_target(prog)
    layout = target.layout
    zero = []
    try:
        # Since Linux 7.x zero_pfn() is a function and the variable
        # zero_page_pfn; before, the variable was zero_pfn.
        var = prog["zero_page_pfn"] if "zero_page_pfn" in prog else prog["zero_pfn"]
        if var.type_.kind == TypeKind.FUNCTION:
            raise LookupError("zero_pfn is a function and there is no zero_page_pfn")
        mask = prog["zero_page_mask"].value_() if "zero_page_mask" in prog else 0
        zero.append((var.value_(), (mask >> layout.page_shift) + 1))
    except (KeyError, LookupError, FaultError) as e:
        return SpecialPages((), 0, None, error=f"the zero page's pfn: {e}")
    try:
        huge = prog["huge_zero_pfn"].value_()
        pmd_pages = 1 << (target.level_shift("pmd") - layout.page_shift)
        if huge < (1 << 63):  # ~0UL until the huge zero folio is allocated
            zero.append((huge, pmd_pages))
    except (KeyError, FaultError):
        pass
    # pte_devmap() went with follow_devmap_pmd() and pfn_t (Linux 6.17).
    devmap = layout.devmap_mask if (has_symbol(prog, "follow_devmap_pmd")
                                    or has_type(prog, "pfn_t")) else 0
    hook = None
    try:
        ops = prog.type("struct vm_operations_struct")
        hook = next((h for h in ("find_special_page", "find_normal_page")
                     if has_member(Object(prog, ops, address=0), h)), None)
    except LookupError:
        pass
    return SpecialPages(tuple(zero), devmap, hook)


# -- the rules ---------------------------------------------------------------


def check_present_pfn(memmap: MemoryMap, special_mask: int,
                      entry: LeafEntry) -> Optional[EntryAnomaly]:
    """
    A present entry of a normal mapping must map a page with a memory map:
    ``__vm_normal_page()`` (mm/memory.c) reports a non-special entry whose
    pfn is above ``highest_memmap_pfn`` as a corrupted page-table entry, and
    returns ``pfn_to_page()`` for any other. Special entries and VMAs that
    may map raw pfns (VM_PFNMAP, VM_MIXEDMAP, VM_IO) are not judged.
    """
    if entry.kind != Kind.PRESENT or entry.pfn is None or entry.raw & special_mask:
        return None
    vma = entry.vma
    if vma is None or vma.kernel or vma.pfnmap:
        return None
    pfn = entry.pfn
    if memmap.highest_memmap_pfn is not None and pfn > memmap.highest_memmap_pfn:
        return EntryAnomaly("pfn-beyond-memmap",
                            f"present entry for pfn {pfn:#x}, past the end of the memory map "
                            f"(highest_memmap_pfn {memmap.highest_memmap_pfn:#x})")
    if memmap.section_valid(pfn) is False:
        return EntryAnomaly("no-memmap", f"present entry for pfn {pfn:#x}, which has no "
                            "memory map")
    return None


def check_special_pte(special_pages: SpecialPages, special_mask: int,
                      entry: LeafEntry) -> Optional[EntryAnomaly]:
    """
    A special present PTE maps no page the kernel counts: ``__vm_normal_page()``
    (mm/memory.c; ``vm_normal_page()`` before Linux 7.x) accepts one only in
    a VMA whose ``vm_ops`` finds its pages (``find_special_page()``,
    ``find_normal_page()``), a VM_PFNMAP or VM_MIXEDMAP VMA, for a shared
    zero page, or (while the kernel has it) with ``pte_devmap()``; any other
    it reports as a bad page map (``print_bad_page_map()``,
    ``print_bad_pte()`` before). VMAs that may map raw pfns (VM_IO too),
    hugetlb VMAs (never looked up this way) and the kernel's own tables are
    not judged, nor anything when the zero page's pfn or the VMA's
    ``vm_ops`` cannot be read.
    """
    if entry.kind != Kind.PRESENT or entry.level != "pte" or entry.pfn is None \
            or not entry.raw & special_mask:
        return None
    vma = entry.vma
    if vma is None or vma.kernel or vma.pfnmap or vma.hugetlb or vma.gap:
        return None
    if special_pages.error is not None or special_pages.explains(entry.raw, entry.pfn):
        return None
    if special_pages.vm_ops_hook is not None and _vm_ops_hook(vma, special_pages.vm_ops_hook):
        return None
    return EntryAnomaly("bad-special", f"special present entry for pfn {entry.pfn:#x}, not a "
                        "zero page, in a VMA that is neither VM_PFNMAP nor VM_MIXEDMAP (a bad "
                        "page map to __vm_normal_page())")


def _vm_ops_hook(vma: Any, hook: str) -> bool:
    """Whether *vma*'s ``vm_ops`` has *hook* set (``True`` when that cannot
    be read: the entry is then not judged)."""
    try:
        obj = Object(vma.prog, "struct vm_area_struct *", vma.address)
        ops = obj.vm_ops.read_()
        return bool(ops) and bool(getattr(ops, hook).value_())
    except (FaultError, LookupError, AttributeError):
        return True


def check_pfn_memmap(memmap: MemoryMap, entry: LeafEntry) -> Optional[EntryAnomaly]:
    """
    Migration, device and hwpoison entries carry the pfn of a page:
    ``softleaf_to_page()`` (include/linux/leafops.h) turns it into a
    ``struct page`` without a check, so the pfn must have a memory map
    (device-private pfns too: they have ZONE_DEVICE struct pages).
    """
    if entry.kind == Kind.PRESENT or not entry.kind.has_pfn or entry.pfn is None:
        return None
    if memmap.section_valid(entry.pfn) is False:
        return EntryAnomaly("no-memmap", f"{entry.kind.value} entry for pfn {entry.pfn:#x}, "
                            "which has no memory map")
    return None


def check_swap_slot(entry: LeafEntry, swap: Optional[SwapInfo]) -> Optional[EntryAnomaly]:
    """
    A swap entry names an active swap device and a slot inside it: the
    swap-in path (``swap_entry_to_info()``/``get_swap_device()`` in
    mm/swapfile.c) rejects any other as a bad swap entry.
    """
    if entry.kind != Kind.SWAP or swap is None or swap.error:
        return None
    if not swap.active:
        return EntryAnomaly("swap-no-device", f"swap entry for type {entry.swap_type}, which "
                            "is not an active swap device")
    if swap.max is not None and entry.swap_offset is not None \
            and entry.swap_offset >= swap.max:
        return EntryAnomaly("swap-past-end", f"swap offset {entry.swap_offset:#x} past the "
                            f"end of {swap.path} ({swap.max} slots)")
    return None


def check_invalid(entry: LeafEntry) -> Optional[EntryAnomaly]:
    """An entry the kernel's decoders do not accept at its level
    (:attr:`Kind.INVALID`: see :mod:`drgn_softleaf.classify`)."""
    if entry.kind != Kind.INVALID:
        return None
    return EntryAnomaly("invalid", entry.note or "invalid entry")


def entry_anomalies(prog: Program, entry: LeafEntry,
                    swap: Optional[SwapInfo] = None) -> Tuple[EntryAnomaly, ...]:
    """Every rule above applied to *entry* (*swap*: its swap slot, for a
    swap entry)."""
    memmap = get_memory_map(prog)
    special = get_target(prog).layout.special_mask
    found = (
        check_present_pfn(memmap, special, entry),
        check_special_pte(get_special_pages(prog), special, entry),
        check_pfn_memmap(memmap, entry),
        check_swap_slot(entry, swap),
        check_invalid(entry),
    )
    return tuple(a for a in found if a is not None)


class ImpossibleCounter:
    """
    Counts impossible entries while entries are counted
    (:func:`drgn_softleaf.classify.count_item`), the rules above applied to
    whole PTE tables at once: present entries by their pfns, swap entries
    by their type and offset, the few others one by one.

    :ivar counts: Impossible entries per :attr:`EntryAnomaly.what`.
    :ivar unreadable: What could not be read to check (swap devices).
    """

    def __init__(self, prog: Program) -> None:
        from collections import Counter

        from drgn_softleaf.enrich import Enricher

        self.prog = prog
        self.target = get_target(prog)
        self.memmap = get_memory_map(prog)
        self.enricher = Enricher(prog)
        self.counts: Counter = Counter()
        self.unreadable: List[str] = []
        if self.memmap.error:
            # The memory-map rules cannot decide: said, never guessed.
            self.unreadable.append(self.memmap.error)

    def _add(self, found: Optional[EntryAnomaly]) -> None:
        if found is not None:
            self.counts[found.what] += 1

    def entry(self, entry: LeafEntry) -> None:
        """Check one classified entry."""
        swap = None
        if entry.kind == Kind.SWAP:
            assert entry.swap_type is not None and entry.swap_offset is not None
            swap = self.enricher.swap(entry.swap_type, entry.swap_offset)
            if swap.error and swap.error not in self.unreadable:
                self.unreadable.append(swap.error)
        for a in entry_anomalies(self.prog, entry, swap):
            self.counts[a.what] += 1

    def ptes(self, group: Any, values: Any, present: Any, svalues: Any, scodes: Any) -> None:
        """
        Check the slots of a group of PTE tables (*values*, all slots in
        order), given the present mask (``None``: none present) and the
        non-present, non-none values with their kind codes.
        """
        import numpy as np

        from drgn_softleaf.classify import classify_value, kind_code

        target = self.target
        layout = target.layout
        vec = layout.vector()
        if present is not None:
            pfns = vec.pte_pfn(values, target.physical_mask)
            if present_suspects(self.prog, values, pfns, present).any():
                # Rare: find the slots, with their VMAs, and judge each.
                special = get_special_pages(self.prog)
                for slots in group:
                    for i in range(slots.first, slots.stop):
                        v = slots.values[i]
                        if layout.pte_present(v):
                            entry = classify_value(target, v, "pte", vma=slots.vma,
                                                   addr=slots.base + (i << layout.page_shift))
                            self._add(check_present_pfn(self.memmap, layout.special_mask,
                                                        entry))
                            self._add(check_special_pte(special, layout.special_mask, entry))
        if scodes is None:
            return
        self.counts["invalid"] += int(np.count_nonzero(scodes == kind_code(Kind.INVALID)))
        swap = scodes == kind_code(Kind.SWAP)
        if swap.any():
            self._swap(vec.swp_type(svalues[swap]), vec.swp_offset(svalues[swap]))
        # Migration, device and hwpoison entries are few: one by one.
        pfn_codes = [kind_code(k) for k in Kind if k.has_pfn and k != Kind.PRESENT]
        for v in svalues[np.isin(scodes, pfn_codes)].tolist():
            self._add(check_pfn_memmap(self.memmap, classify_value(target, v, "pte")))

    def _swap(self, types: Any, offsets: Any) -> None:
        import numpy as np

        for t in np.unique(types).tolist():
            mine = offsets[types == t]
            info = self.enricher.swap(t, int(mine[0]))
            if info.error:
                if info.error not in self.unreadable:
                    self.unreadable.append(info.error)
                continue
            if not info.active:
                self.counts["swap-no-device"] += len(mine)
            elif info.max is not None:
                self.counts["swap-past-end"] += int(np.count_nonzero(mine >= np.uint64(info.max)))
