# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage collection
-----------------

The collection pass of a triage scan: every user address space walked once
(its VMAs and the gaps between them), and each entry the walk hands out
judged on its own: a migration entry becomes a :class:`Holder` of its
folio, a swap entry a slot in use, and an entry the kernel never leaves in
a page table (outside any VMA, a pfn without a memory map, device-private
memory that is not, hwpoison on an unpoisoned page, a swap slot that is not
in use) an :class:`Anomaly`.
"""

import os
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.checks import check_invalid, check_swap_slot, pfn_valid
from drgn_softleaf.classify import Kind, LeafEntry
from drgn_softleaf.enrich import Enricher, FolioInfo
from drgn_softleaf.probe import has_member, has_type, is_live, is_local
from drgn_softleaf.scan import AddressSpace, Selection, for_each_address_space, selected_entries
from drgn_softleaf.target import get_target
from drgn_softleaf.triage.records import Anomaly, Holder, LeakReport
from drgn_softleaf.vma import Vma, mm_vmas
from drgn_softleaf.walk import Unreadable, mm_pgd_phys

__all__ = ("Collector", "collect_entries", "user_spaces")


class Collector:
    """Accumulates what the scan of each address space finds."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self.enricher = Enricher(prog)
        self.report = LeakReport()
        self.holders: Dict[int, List[Holder]] = defaultdict(list)
        self.holder_vmas: Dict[int, List[Tuple[Holder, Optional[Vma]]]] = defaultdict(list)
        self.swap_slots: Dict[int, Set[int]] = defaultdict(set)

    def unreadable(self, space: AddressSpace, entry: LeafEntry, why: str) -> None:
        self.report.unreadable.append((space.pid, space.comm, entry.addr,
                                       entry.addr + entry.size, why))

    def valid_pfn(self, space: AddressSpace, entry: LeafEntry, what: str) -> bool:
        """Whether the entry's pfn has a memory map: an anomaly if not, an
        unreadable range if that cannot be told."""
        assert entry.pfn is not None
        valid = pfn_valid(self.prog, entry.pfn)
        if valid is None:
            self.unreadable(space, entry, f"memory map of pfn {entry.pfn:#x} unreadable")
            return False
        if not valid:
            self.anomaly("no-memmap", f"{what} entry for pfn {entry.pfn:#x}, which has no "
                         "memory map", space, entry)
            return False
        folio = self.enricher.folio(entry.pfn)
        if folio.error:
            self.unreadable(space, entry, folio.error)
            return False
        return True

    def anomaly(self, what: str, detail: str, space: AddressSpace, entry: LeafEntry) -> None:
        self.report.anomalies.append(
            Anomaly(what, detail, space.pid, space.comm, entry.addr, entry.level, entry.raw,
                    mm=space.mm.value_())
        )

    def entry(self, space: AddressSpace, entry: LeafEntry, in_vma: bool) -> None:
        """Judge one entry of *space* (*in_vma*: whether a VMA covers it)."""
        kind = entry.kind
        if kind == Kind.NONE:
            return
        self.report.entries += 1
        if not in_vma:
            self.anomaly("outside-vma", f"{kind.value} entry outside any VMA", space, entry)
            return
        if kind == Kind.PRESENT:
            return
        if kind.is_migration:
            self._migration(space, entry)
        elif kind in (Kind.DEVICE_PRIVATE_READ, Kind.DEVICE_PRIVATE_WRITE):
            self._device_private(space, entry)
        elif kind == Kind.HWPOISON:
            self._hwpoison(space, entry)
        elif kind == Kind.SWAP:
            self._swap(space, entry)
        elif kind == Kind.INVALID:
            problem = check_invalid(entry)
            assert problem is not None
            self.anomaly(problem.what, problem.detail, space, entry)

    def _migration(self, space: AddressSpace, entry: LeafEntry) -> None:
        """A migration entry holds its folio: a :class:`Holder` of it."""
        assert entry.pfn is not None
        if not self.valid_pfn(space, entry, "migration"):
            return
        folio = self.enricher.folio(entry.pfn)
        holder = Holder(space.pid, space.comm, space.mm.value_(), entry.addr, entry.level,
                        entry.raw, entry.kind.value, entry.pfn)
        self.holders[folio.folio].append(holder)
        self.holder_vmas[folio.folio].append((holder, entry.vma))

    def _device_private(self, space: AddressSpace, entry: LeafEntry) -> None:
        """A device-private entry names device-private memory."""
        assert entry.pfn is not None
        # Device-private pfns may lie above RAM: only the kernel's own
        # validity test says whether there is a struct page.
        if not self.valid_pfn(space, entry, "device-private"):
            return
        private = _zone_device_private(self.prog, entry.pfn)
        if private is False:
            self.anomaly("device-private-not-device", f"device-private entry for pfn "
                         f"{entry.pfn:#x}, which is not device-private memory",
                         space, entry)

    def _hwpoison(self, space: AddressSpace, entry: LeafEntry) -> None:
        """A hwpoison entry names a poisoned page (:func:`_hwpoisoned`)."""
        assert entry.pfn is not None
        if not self.valid_pfn(space, entry, "hwpoison"):
            return
        folio = self.enricher.folio(entry.pfn)
        poisoned = _hwpoisoned(self.enricher, entry, folio)
        if poisoned is False:
            self.anomaly("hwpoison-not-poisoned", f"hwpoison entry for pfn "
                         f"{entry.pfn:#x}, whose page lacks PG_hwpoison", space, entry)

    def _swap(self, space: AddressSpace, entry: LeafEntry) -> None:
        """A swap entry names a slot in use (``check_swap_slot()``)."""
        assert entry.swap_type is not None and entry.swap_offset is not None
        info = self.enricher.swap(entry.swap_type, entry.swap_offset)
        problem = check_swap_slot(entry, info)
        if info.error:
            self.unreadable(space, entry, info.error)
        elif problem is not None:
            self.anomaly(problem.what, problem.detail, space, entry)
        else:
            self.swap_slots[entry.swap_type].add(entry.swap_offset)


def _zone_device_private(prog: Program, pfn: int) -> Optional[bool]:
    """Whether *pfn* is device-private memory: first whether it lies in a
    node's ZONE_DEVICE (pgmap means something only there), then the
    pgmap's type. ``None`` if this cannot be told."""
    from drgn.helpers.linux.mm import compound_head, pfn_to_page
    from drgn.helpers.linux.mmzone import for_each_online_pgdat

    try:
        zone_device = prog.constant("ZONE_DEVICE").value_()
        device_private = prog.constant("MEMORY_DEVICE_PRIVATE").value_()
    except LookupError:
        return None
    try:
        in_zone = False
        for pgdat in for_each_online_pgdat(prog):
            zone = pgdat.node_zones[zone_device]
            start = zone.zone_start_pfn.value_()
            if start <= pfn < start + zone.spanned_pages.value_():
                in_zone = True
                break
        if not in_zone:
            return False
        # pgmap is the folio's (since Linux 6.x in struct folio, before in
        # the head page): read it from the head, never from a tail page.
        page = compound_head(pfn_to_page(prog, pfn))
        holder = Object(prog, "struct folio *", page.value_()) if has_type(prog, "struct folio") \
            else page
        if not has_member(holder, "pgmap"):
            # Before pgmap moved to struct folio, it was the head page's.
            holder = page
        return holder.pgmap.type.value_() == device_private
    except (FaultError, LookupError, AttributeError):
        return None


def _hwpoisoned(enricher: Enricher, entry: LeafEntry, folio: FolioInfo) -> Optional[bool]:
    """
    Whether the memory a hwpoison entry names is poisoned
    (``make_hwpoison_entry()`` in mm/memory-failure.c): its page has
    PG_hwpoison. In a hugetlb VMA the entries name the huge page's head,
    while the flag is on the head (``folio_set_hwpoison()``) or, once the
    folio was dissolved, on the raw error page inside it: any page of the
    range counts. ``None`` if that cannot be told (a range too large to
    search).
    """
    if folio.hwpoison:
        return True
    vma = entry.vma
    if vma is None or not vma.hugetlb:
        return False
    if "hwpoison" in folio.flags:
        return True
    layout = get_target(enricher.prog).layout
    pages = entry.size >> layout.page_shift
    # The most pages searched: a PMD-sized folio's.
    if pages > layout.entries_per_table:
        return None
    start = folio.folio_pfn if folio.folio_pfn else entry.pfn or 0
    return any(enricher.folio(pfn).hwpoison for pfn in range(start, start + pages))


def user_spaces(prog: Program, report: LeakReport) -> List[AddressSpace]:
    """Every user address space, but this tool's own on a live kernel: it
    maps and unmaps memory while its page tables are read (a scan of it
    would report its own churn), so it is left out and said so."""
    spaces: List[AddressSpace] = []
    me = os.getpid() if is_local(prog) else None
    listed: List[AddressSpace] = []
    try:
        for space in for_each_address_space(prog):
            listed.append(space)
    except FaultError as e:
        # On a live kernel, the task list changed under the walk; in a dump,
        # it is damaged: what was listed is scanned, the rest is unreadable.
        report.unreadable.append((0, "tasks", 0, 0, f"task list: {e}"))
    for space in listed:
        if me is not None:
            try:
                tgid = space.task.tgid.value_()
            except FaultError:
                tgid = None
            if tgid == me:
                report.left_out.append((space.pid, space.comm, "this tool's own process "
                                        "(it changes its address space while it is read)"))
                continue
        spaces.append(space)
    return spaces


def collect_entries(collector: Collector, spaces: Sequence[AddressSpace],
                    progress: Optional[Callable[[int, int], None]]
                    ) -> List[Tuple[AddressSpace, int, bool]]:
    """The collection pass: walk every address space once (its VMAs and
    the gaps between them), hand each entry to *collector*; return each
    space's count of swap entries in its VMAs (and whether some of its page
    tables could not be read)."""
    prog = collector.prog
    report = collector.report
    swap_counts: List[Tuple[AddressSpace, int, bool]] = []
    for i, space in enumerate(spaces):
        report.address_spaces += 1
        try:
            vmas = mm_vmas(space.mm)
            # The page tables' root too: an mm that cannot be read is left
            # before its walk.
            mm_pgd_phys(space.mm)
        except FaultError as e:
            if is_live(prog) and _exited(prog, space):
                report.left_out.append((space.pid, space.comm, "exited while the scan ran"))
                continue
            report.unreadable.append((space.pid, space.comm, 0, 0, f"mm: {e}"))
            continue
        found_swap = 0
        selection = Selection()
        for item in selected_entries(space, vmas, gaps=True, selection=selection):
            if isinstance(item, Unreadable):
                report.unreadable.append((space.pid, space.comm, item.start, item.end,
                                          item.reason))
                continue
            in_vma = item.vma is not None
            collector.entry(space, item, in_vma)
            if item.kind == Kind.SWAP and in_vma:
                found_swap += 1
        # The present entries and markers inside VMAs, counted by the walk.
        report.entries += selection.counted
        swap_counts.append((space, found_swap,
                            any(u[0] == space.pid for u in report.unreadable)))
        if progress is not None:
            progress(i + 1, len(spaces))
    return swap_counts


def _exited(prog: Program, space: AddressSpace) -> bool:
    """Whether the task of *space* has exited or dropped that mm since it
    was listed (a live kernel)."""
    from drgn.helpers.linux.pid import find_task

    try:
        task = find_task(prog, space.pid)
        return not task or task.mm.value_() != space.mm.value_()
    except FaultError:
        return True
