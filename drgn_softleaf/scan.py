# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Scanning
--------

The one stream from the walk to every consumer: find the address space,
walk its VMAs (and, for triage, the gaps between them), batch the PTE
tables, classify what the walk finds (array-wise where it can), select by
kind and range, and (on request) join each entry to its folio or swap
slot. Nothing else calls the walker or the batching. Its forms:

- :func:`for_each_leaf_entry`: the API, one entry at a time;
- :class:`Listing`: a listing's entries, enriched, one at a time or in
  batches on the vector path (``entries``, JSON Lines);
- :func:`system_counts`, :func:`space_vma_counts`, :func:`space_counts`,
  :func:`vma_counts`: counts per kind and of impossible entries
  (``summary``, ``vmas``);
- :func:`selected_entries`: what a whole-system triage judges one by one
  (``leaks``, the swap census);
- :func:`lookup_address`: the path down to one address (``addr``).

>>> from drgn_softleaf import for_each_leaf_entry
>>> for entry in for_each_leaf_entry(prog, pid=1):
...     print(hex(entry.addr), entry.kind.value)
"""

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from drgn import FaultError, Object, Program

from drgn_softleaf.classify import (
    Kind,
    LeafEntry,
    batch_items,
    classify_item,
    classify_pte_batch,
    classify_value,
    count_item,
    present_code,
    present_flag_bits,
    protnone_reason,
    select_pte_group,
)
from drgn_softleaf.checks import (
    EntryAnomaly,
    ImpossibleCounter,
    entry_anomalies,
    present_suspects,
)
from drgn_softleaf.enrich import Enricher, FolioInfo, SwapInfo
from drgn_softleaf.target import Target, get_target
from drgn_softleaf.vma import Vma, mm_vmas, vma_gaps
from drgn_softleaf.walk import Unreadable, WalkItem, mm_pgd_phys, walk_range

__all__ = (
    "AddressLookup",
    "AddressSpace",
    "Enriched",
    "EntryBatch",
    "Listing",
    "ScanError",
    "Selection",
    "address_space",
    "classify_raw",
    "enrich_consistent",
    "enrich_entry",
    "for_each_address_space",
    "for_each_leaf_entry",
    "lookup_address",
    "outside_vma",
    "selected_entries",
    "space_counts",
    "space_vma_counts",
    "system_counts",
    "vma_counts",
)


class ScanError(Exception):
    """A request that cannot be served (no such PID, no mm, ...)."""


@dataclass(frozen=True)
class AddressSpace:
    """
    A user address space and a task that uses it, or (with *kernel*) the
    kernel's own page tables (``init_mm``, PID 0).
    """

    pid: int
    comm: str
    task: Object
    mm: Object
    kernel: bool = False


def _task_comm(task: Object) -> str:
    return task.comm.string_().decode(errors="replace")


def address_space(
    prog: Program,
    *,
    pid: Optional[int] = None,
    task: Optional[Object] = None,
    mm: Optional[Object] = None,
    kernel: bool = False,
) -> AddressSpace:
    """
    Find the address space of a PID, a task or an mm, or (*kernel*) the
    kernel page tables.

    :param task: ``struct task_struct *``
    :param mm: ``struct mm_struct *`` (the task is then its owner, if known)
    :raises ScanError: if there is no such process or it has no address space.
    """
    from drgn.helpers.linux.pid import find_task

    if kernel:
        return AddressSpace(0, "init_mm", prog["init_task"].address_of_(),
                            prog["init_mm"].address_of_(), kernel=True)

    if mm is not None:
        owner = None
        try:
            owner = mm.owner.read_()
        except (AttributeError, LookupError):
            owner = None
        if owner is not None and owner:
            return AddressSpace(owner.pid.value_(), _task_comm(owner), owner, mm)
        return AddressSpace(-1, "?", Object(prog, "struct task_struct *", 0), mm)
    if task is None:
        if pid is None:
            raise ScanError("no PID, task or mm given")
        task = find_task(prog, pid)
        if not task:
            raise ScanError(f"no process with PID {pid}")
    mm = task.mm.read_()
    if not mm:
        raise ScanError(
            f"PID {task.pid.value_()} ({_task_comm(task)}) is a kernel thread or "
            "has exited: it has no user address space"
        )
    return AddressSpace(task.pid.value_(), _task_comm(task), task, mm)


def kernel_ranges(prog: Program) -> List[Vma]:
    """The kernel half of the address space, as one pseudo-VMA."""
    target = get_target(prog)
    start, end = target.layout.kernel_range(target.levels)
    return [Vma(0, start, end, 0, None, False, True, False, kernel=True)]


def for_each_address_space(prog: Program) -> Iterator[AddressSpace]:
    """Yield each distinct user address space once, with its first task."""
    from drgn.helpers.linux.pid import for_each_task

    seen = set()
    for task in for_each_task(prog):
        try:
            mm = task.mm.read_()
        except FaultError:
            continue
        if not mm or mm.value_() in seen:
            continue
        seen.add(mm.value_())
        yield AddressSpace(task.pid.value_(), _task_comm(task), task, mm)


def _select_vmas(
    vmas: Sequence[Vma], start: Optional[int], end: Optional[int]
) -> List[Vma]:
    if start is None and end is None:
        return list(vmas)
    lo = 0 if start is None else start
    hi = (1 << 64) if end is None else end
    out = []
    for vma in vmas:
        if vma.end <= lo or vma.start >= hi:
            continue
        out.append(
            dataclasses.replace(vma, start=max(vma.start, lo), end=min(vma.end, hi))
            if vma.start < lo or vma.end > hi
            else vma
        )
    return out


def walk_address_space(
    space: AddressSpace,
    *,
    start: Optional[int] = None,
    end: Optional[int] = None,
    holes: bool = False,
    vmas: Optional[Sequence[Vma]] = None,
) -> Tuple[List[Vma], Iterator[WalkItem]]:
    """Return the VMAs of *space* (clipped to [start, end)) and a walk over
    them. *vmas*: the space's VMAs, if already read."""
    prog = space.mm.prog_
    if vmas is None:
        vmas = kernel_ranges(prog) if space.kernel else mm_vmas(space.mm)
    vmas = _select_vmas(vmas, start, end)
    return vmas, walk_range(prog, mm_pgd_phys(space.mm), vmas, holes=holes)


@dataclass
class Selection:
    """What :func:`selected_entries` counted instead of handing out.

    :ivar counted: Non-none entries of the skipped kinds inside VMAs.
    """

    counted: int = 0


def outside_vma(entry: LeafEntry) -> LeafEntry:
    """*entry* as one no VMA covers: without its VMA (a gap's) or anything
    decoded from it, the way triage reports it."""
    return LeafEntry(None, entry.addr, entry.size, entry.level, entry.raw, entry.kind)


def selected_entries(
    space: AddressSpace,
    vmas: Sequence[Vma],
    *,
    skip: Tuple[Kind, ...] = (Kind.PRESENT, Kind.MARKER),
    gaps: bool = False,
    selection: Optional[Selection] = None,
) -> Iterator[Union[LeafEntry, Unreadable]]:
    """
    The leaf entries of *space* under *vmas* (in address order) that a
    whole-system triage looks at one by one, and the ranges that could not
    be read: every entry but those of the *skip* kinds (present entries and
    markers, the bulk of a scan, which are never a finding inside a VMA),
    which whole PTE tables are classified array-wise to count in
    *selection*. With *gaps*, the user address range between the VMAs is
    walked too: every entry found there is handed out, without a VMA
    (``entry.vma`` is ``None``).
    """
    prog = space.mm.prog_
    target = get_target(prog)
    regions: List[Vma] = list(vmas)
    if gaps:
        task_size = target.layout.user_range(target.levels)[1]
        regions = sorted(regions + vma_gaps(vmas, task_size), key=lambda v: v.start)
    if selection is None:
        selection = Selection()
    walk = walk_range(prog, mm_pgd_phys(space.mm), regions, target=target)
    for item in batch_items(walk):
        if isinstance(item, Unreadable):
            yield item
            continue
        if not isinstance(item, list):
            entries: Iterable[LeafEntry] = classify_item(target, item)
        else:
            vma = item[0].vma
            # In a gap between VMAs, every entry is handed out.
            counted, others = select_pte_group(target, item, () if vma.gap else skip)
            selection.counted += counted
            entries = (classify_value(target, raw, "pte", vma=vma, addr=addr)
                       for addr, raw in others)
        for entry in entries:
            yield outside_vma(entry) if entry.vma is not None and entry.vma.gap else entry


def for_each_leaf_entry(
    prog: Program,
    *,
    pid: Optional[int] = None,
    task: Optional[Object] = None,
    mm: Optional[Object] = None,
    start: Optional[int] = None,
    end: Optional[int] = None,
    include_none: bool = False,
    kernel: bool = False,
) -> Iterator[LeafEntry]:
    """
    Yield the leaf entries of an address space, in address order
    (*kernel*: of the kernel page tables, where non-present entries are
    :attr:`Kind.KERNEL_NOT_PRESENT`, shown raw).

    :param start: Only entries at or above this address.
    :param end: Only entries below this address.
    :param include_none: Also yield none entries and ranges, and unreadable
        ranges (:attr:`Kind.UNREADABLE`).
    """
    space = address_space(prog, pid=pid, task=task, mm=mm, kernel=kernel)
    target = get_target(prog)
    _, walk = walk_address_space(space, start=start, end=end, holes=include_none)
    for item in batch_items(walk):
        yield from classify_item(target, item, include_none=include_none)


def classify_raw(prog: Program, value: int, level: str = "pte", *, hugetlb: bool = False) -> LeafEntry:
    """
    Classify a raw page-table entry *value* for *prog*'s kernel.

    >>> classify_raw(prog, 0x7ffffffffffffe00).kind
    <Kind.SWAP: 'swap'>
    """
    return classify_value(get_target(prog), value, level, hugetlb=hugetlb)


@dataclass(frozen=True)
class Enriched:
    """
    A leaf entry with its folio or swap slot, and why it is impossible
    (:mod:`drgn_softleaf.checks`; empty for a possible entry).
    """

    entry: LeafEntry
    folio: Optional[FolioInfo] = None
    swap: Optional[SwapInfo] = None
    anomalies: Tuple[EntryAnomaly, ...] = ()


def enrich_entry(enricher: Enricher, entry: LeafEntry, *, present: bool = False) -> Enriched:
    """
    Join *entry* to its swap slot, or to its folio if it carries a pfn
    (present entries only with *present*: they are the bulk of a scan and
    their folio is rarely what a question is about), and check that it is
    possible.
    """
    folio = swap = None
    if entry.kind == Kind.SWAP:
        assert entry.swap_type is not None and entry.swap_offset is not None
        swap = enricher.swap(entry.swap_type, entry.swap_offset)
    elif entry.pfn is not None and (present or entry.kind != Kind.PRESENT):
        folio = enricher.folio(entry.pfn)
    return Enriched(entry, folio, swap, entry_anomalies(enricher.prog, entry, swap))


def enrich_consistent(enricher: Enricher, space: "AddressSpace", entry: LeafEntry, *,
                      present: bool = False) -> Enriched:
    """
    :func:`enrich_entry`, and on a live kernel read the entry again after
    its folio or swap slot, retrying on a change (re-classifying the new
    value), so that what is shown is one state, never an entry of one
    moment with the folio of the next. An entry that changed on every
    attempt gets an error in place of its folio or slot.
    """
    from drgn_softleaf.live import consistent, read_leaf
    from drgn_softleaf.probe import is_live

    prog = enricher.prog
    if not is_live(prog) or (entry.pfn is None and entry.kind != Kind.SWAP) or space.kernel:
        return enrich_entry(enricher, entry, present=present)
    target = get_target(prog)
    pgd = mm_pgd_phys(space.mm)

    def read_entry() -> Optional[int]:
        try:
            return read_leaf(prog, target, pgd, entry.addr, entry.level)
        except FaultError:
            return None

    def rest(raw: Optional[int]) -> Enriched:
        now = entry
        if raw is not None and raw != entry.raw:
            now = classify_value(target, raw, entry.level, vma=entry.vma, addr=entry.addr)
        return enrich_entry(enricher, now, present=present)

    got = consistent(read_entry, rest)
    if got is None:
        why = "the entry changed on every read (live kernel)"
        if entry.kind == Kind.SWAP:
            assert entry.swap_type is not None
            return Enriched(entry, swap=SwapInfo(entry.swap_type, None, False, None, None,
                                                 error=why))
        assert entry.pfn is not None
        return Enriched(entry, folio=FolioInfo(entry.pfn, 0, 0, 0, 0, (), False, False, False,
                                               0, 0, error=why))
    return got[1]


def vma_counts(
    space: AddressSpace, *, start: Optional[int] = None, end: Optional[int] = None,
    impossible: Optional[Dict[int, ImpossibleCounter]] = None,
) -> List[Tuple[Vma, Counter]]:
    """
    Count leaf entries per kind for each VMA of *space*.

    :param impossible: If given, filled with an
        :class:`~drgn_softleaf.checks.ImpossibleCounter` per VMA start.
    """
    prog = space.mm.prog_
    target = get_target(prog)
    vmas, walk = walk_address_space(space, start=start, end=end)
    counts: Dict[int, Counter] = {v.start: Counter() for v in vmas}
    if impossible is not None:
        impossible.update((v.start, ImpossibleCounter(prog)) for v in vmas)
    for item in batch_items(walk):
        vma = item[0].vma if isinstance(item, list) else item.vma
        assert vma is not None
        count_item(target, item, counts[vma.start],
                   None if impossible is None else impossible[vma.start])
    return [(v, counts[v.start]) for v in vmas]


def space_counts(space: AddressSpace, vmas: Optional[Sequence[Vma]] = None,
                 impossible: Optional[ImpossibleCounter] = None) -> Counter:
    """
    Count leaf entries per kind over all of *space* (*vmas*: its VMAs,
    if already read).

    :param impossible: If given, also counts the impossible entries.
    """
    target = get_target(space.mm.prog_)
    _, walk = walk_address_space(space, vmas=vmas)
    counts: Counter = Counter()
    # Counting does not depend on the VMA at PTE level: batch across VMAs.
    for item in batch_items(walk, max_tables=1024, by_vma=False):
        count_item(target, item, counts, impossible)
    return counts


def _unreadable(counts: Iterable[Counter], checks: Iterable[ImpossibleCounter]) -> List[str]:
    """What a count could not read: its unreadable page-table ranges (from
    the *counts* per kind) and what its impossible-entry *checks* could not
    read, once each."""
    out: List[str] = []
    tables = sum(c.get(Kind.UNREADABLE, 0) for c in counts)
    if tables:
        out.append(f"{tables} page-table ranges")
    for check in checks:
        out += [u for u in check.unreadable if u not in out]
    return out


def system_counts(prog: Program) -> Tuple[List[Tuple[AddressSpace, int, Counter, Counter]],
                                          List[str]]:
    """
    Count the leaf entries of every user address space per kind, and its
    impossible entries per rule: (space, number of VMAs, counts, impossible)
    for each, and what could not be read (an address space that cannot be
    read is said there, and the others are counted).
    """
    rows = []
    checks = []
    lost: List[str] = []
    for space in for_each_address_space(prog):
        check = ImpossibleCounter(prog)
        try:
            vmas = mm_vmas(space.mm)
            counts = space_counts(space, vmas, check)
        except (FaultError, ValueError) as e:
            lost.append(f"PID {space.pid} ({space.comm}) address space: {e}")
            continue
        checks.append(check)
        rows.append((space, len(vmas), counts, check.counts))
    return rows, _unreadable([c for _, _, c, _ in rows], checks) + lost


def space_vma_counts(space: AddressSpace) -> Tuple[List[Tuple[Vma, Counter, Counter]], List[str]]:
    """:func:`vma_counts` with the impossible entries of each VMA per rule:
    (VMA, counts, impossible) for each, and what could not be read."""
    checks: Dict[int, ImpossibleCounter] = {}
    counted = vma_counts(space, impossible=checks)
    rows = [(v, c, checks[v.start].counts) for v, c in counted]
    return rows, _unreadable([c for _, c, _ in rows], checks.values())


@dataclass(frozen=True)
class AddressLookup:
    """
    What is at an address: the entry at every level on the way down,
    (level, physical address of the entry, value, role), and the leaf.
    """

    vma: Optional[Vma]
    path: Tuple[Tuple[str, int, int, str], ...]
    leaf: Optional[Enriched]
    #: For each step of the path, the bits of a present entry as the
    #: architecture names them (empty for any other).
    bits: Tuple[Tuple[str, ...], ...] = ()
    #: The physical address of the byte at the address, under a present leaf.
    phys: Optional[int] = None


def _lookup(target: Target, addr: int, vma: Optional[Vma],
            steps: Tuple[Tuple[str, int, int, str], ...], leaf: Optional[Enriched]
            ) -> AddressLookup:
    layout = target.layout
    bits = []
    for level, _, value, role in steps:
        present = role in ("table", "leaf") and (
            level == "pte" and layout.pte_present(value)
            or level != "pte" and layout.pmd_present(value))
        bits.append(tuple(layout.entry_bit_names(value, level)) if present else ())
    phys = None
    if leaf is not None and leaf.entry.kind == Kind.PRESENT and leaf.entry.pfn is not None:
        phys = (leaf.entry.pfn << layout.page_shift) + (addr - leaf.entry.addr)
    return AddressLookup(vma, steps, leaf, tuple(bits), phys)


def lookup_address(space: AddressSpace, addr: int) -> AddressLookup:
    """
    Walk down to *addr* in *space* and decode the leaf entry there.

    >>> lookup_address(address_space(prog, pid=1), 0x7f0000000000).leaf
    """
    from drgn_softleaf.walk import walk_path

    from drgn_softleaf.live import consistent
    from drgn_softleaf.probe import is_live

    prog = space.mm.prog_
    target = get_target(prog)
    vmas = kernel_ranges(prog) if space.kernel else mm_vmas(space.mm)
    vma = next((v for v in vmas if v.start <= addr < v.end), None)
    pgd = mm_pgd_phys(space.mm)

    def path() -> Tuple[Tuple[str, int, int, str], ...]:
        steps = walk_path(prog, pgd, addr, hugetlb=vma.hugetlb if vma else False,
                          target=target)
        return tuple((s.level, s.entry_phys, s.value, s.role) for s in steps)

    def leaf_of(steps: Tuple[Tuple[str, int, int, str], ...]) -> Optional[Enriched]:
        last = steps[-1] if steps else None
        if last is None or last[3] not in ("leaf", "none"):
            return None
        shift = dict(target.level_shifts)[last[0]]
        base = addr & ~((1 << shift) - 1)
        entry = classify_value(target, last[2], last[0], vma=vma, addr=base)
        return enrich_entry(Enricher(prog), entry, present=True)

    if not is_live(prog):
        steps = path()
        return _lookup(target, addr, vma, steps, leaf_of(steps))
    # Live: the path, the folio, and the path again, until they agree.
    got = consistent(path, leaf_of)
    if got is None:
        steps = path()
        return _lookup(target, addr, vma, steps[:-1] + (
            (steps[-1][0], steps[-1][1], steps[-1][2], "unreadable"),), None)
    return _lookup(target, addr, vma, got[0], got[1])


@dataclass
class EntryBatch:
    """
    PTE tables of one VMA as a listing consumes them
    (:meth:`Listing.batches`): every non-none slot in address order, the
    ordinary present entries wanted listed straight from the arrays, every
    other wanted entry enriched.

    :ivar addrs: Addresses of the non-none slots (``uint64`` array).
    :ivar raws: Their values.
    :ivar pfns: Their pfns, as a present entry's (meaningful where
        :attr:`bulk` is set).
    :ivar protnone: Whether each is a present PROT_NONE entry.
    :ivar combos: Per slot, which of the VMA's present software flags are
        set: bit *k* for :attr:`flag_sets`' flag *k*.
    :ivar flag_sets: Per value of :attr:`combos`, the flags' names and the
        reason a PROT_NONE entry with them is PROT_NONE.
    :ivar bulk: The ordinary present entries wanted (no enrichment, nothing
        impossible about them).
    :ivar others: Every other entry wanted, enriched, with the slots it
        stands for (indexes into the arrays, in order): one, or all the
        slots of a value repeated many times (markers, mostly), which is
        then the same entry at other addresses.
    """

    vma: Vma
    addrs: Any
    raws: Any
    pfns: Any
    protnone: Any
    combos: Any
    flag_sets: Tuple[Tuple[Tuple[str, ...], Optional[str]], ...]
    bulk: Any
    others: List[Tuple[Any, Enriched]]


# A value seen this many times in a batch is classified and enriched once.
_REPEATS = 8


class Listing:
    """
    The leaf entries of one address space as a listing shows them, each
    enriched (:func:`enrich_consistent`), in address order; what was met
    on the way is counted.

    :param kinds: Only entries of these kinds (``None``: all).
    :param include_none: Also none entries and ranges, and unreadable
        ranges (:attr:`Kind.UNREADABLE`).
    :ivar vmas: The VMAs walked (clipped to [start, end)).
    :ivar impossible: Impossible entries listed so far.
    :ivar incomplete: Whether something could not be read (a page table, a
        folio, a swap device).
    """

    def __init__(self, space: AddressSpace, *, start: Optional[int] = None,
                 end: Optional[int] = None, kinds: Optional[Iterable[Kind]] = None,
                 include_none: bool = False) -> None:
        prog = space.mm.prog_
        self.space = space
        self.target = get_target(prog)
        self.enricher = Enricher(prog)
        self.kinds = None if kinds is None else frozenset(kinds)
        self.include_none = include_none
        self.vmas, self._walk = walk_address_space(space, start=start, end=end,
                                                   holes=include_none)
        self.impossible = 0
        self.incomplete = False

    def wanted(self, kind: Kind) -> bool:
        """Whether entries of *kind* are listed."""
        return self.kinds is None or kind in self.kinds

    def enrich(self, entry: LeafEntry) -> Enriched:
        """Enrich *entry*, counting what is impossible or unreadable."""
        e = enrich_consistent(self.enricher, self.space, entry)
        if e.anomalies:
            self.impossible += 1
        if (e.folio is not None and e.folio.error) or (e.swap is not None and e.swap.error):
            self.incomplete = True
        return e

    def _items(self) -> Iterator[Any]:
        def watched() -> Iterator[WalkItem]:
            for item in self._walk:
                if isinstance(item, Unreadable):
                    self.incomplete = True
                yield item

        return batch_items(watched())

    def entries(self) -> Iterator[Enriched]:
        """Every entry wanted, one at a time."""
        for item in self._items():
            for entry in classify_item(self.target, item, include_none=self.include_none):
                if self.wanted(entry.kind):
                    yield self.enrich(entry)

    def batches(self) -> Iterator[Union[Enriched, EntryBatch]]:
        """
        The same entries (none entries only with ``include_none``, so not
        here), PTE tables a batch at a time: the vector path, for
        listings of millions of entries.
        """
        assert not self.include_none
        for item in self._items():
            if isinstance(item, list):
                batch = self._batch(item)
                if batch is not None:
                    yield batch
                continue
            for entry in classify_item(self.target, item):
                if self.wanted(entry.kind):
                    yield self.enrich(entry)

    def _batch(self, group: List[Any]) -> Optional[EntryBatch]:
        import numpy as np

        target = self.target
        layout = target.layout
        vec = layout.vector()
        batch = classify_pte_batch(target, group)
        if not len(batch.raws):
            return None
        vma = batch.vma
        raws = batch.raws
        present = batch.codes == present_code()
        pfns = vec.pte_pfn(raws, target.physical_mask)
        # Present entries that check_present_pfn() or check_special_pte()
        # may call impossible go the slow way, which says why.
        suspect = present_suspects(self.space.mm.prog_, raws, pfns, present)
        if vma.kernel or vma.pfnmap:
            suspect[:] = False
        flag_bits = present_flag_bits(target, vma)
        combos = np.zeros(len(raws), dtype=np.int16)
        for k, (_, mask) in enumerate(flag_bits):
            combos |= ((raws & np.uint64(mask)) != 0).astype(np.int16) << k
        flag_sets = []
        for combo in range(1 << len(flag_bits)):
            names = tuple(name for k, (name, _) in enumerate(flag_bits) if combo >> k & 1)
            flag_sets.append((names, protnone_reason(vma, names)))
        bulk = present & ~suspect if self.wanted(Kind.PRESENT) else np.zeros(len(raws), bool)
        others = self._enrich_rows(vma, batch.addrs, raws, np.flatnonzero(~present | suspect))
        return EntryBatch(vma, batch.addrs, raws, pfns, vec.pte_protnone(raws) & present,
                          combos, tuple(flag_sets), bulk, others)

    def _enrich_rows(self, vma: Vma, addrs: Any, raws: Any, rows: Any
                     ) -> List[Tuple[Any, Enriched]]:
        """
        Classify and enrich the PTEs at *rows* that are wanted: a value
        repeated many times once (nothing about it but its address depends
        on anything but the value and the VMA), unless it is impossible or
        its folio or swap slot could not be read: those always one entry
        at a time, so that each is counted.
        """
        import numpy as np

        target = self.target
        done = np.zeros(len(rows), dtype=bool)
        out: List[Tuple[Any, Enriched]] = []
        values = raws[rows]
        _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)

        def classify(i: int) -> LeafEntry:
            return classify_value(target, int(values[i]), "pte", vma=vma,
                                  addr=int(addrs[rows[i]]))

        for u in np.flatnonzero(counts >= _REPEATS).tolist():
            members = np.flatnonzero(inverse == u)
            first = int(members[0])
            entry = classify(first)
            if not self.wanted(entry.kind):
                done[members] = True
                continue
            e = self.enrich(entry)
            if e.anomalies or (e.folio is not None and e.folio.error) or (
                    e.swap is not None and e.swap.error):
                # The others of this value one at a time, below.
                members = members[:1]
            out.append((rows[members], e))
            done[members] = True
        for i in np.flatnonzero(~done).tolist():
            entry = classify(i)
            if self.wanted(entry.kind):
                out.append((rows[i:i + 1], self.enrich(entry)))
        return out
