# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Scanning
--------

The one code path every interface uses: find the address space, walk it,
classify what the walk finds, and (on request) join each entry to its folio
or swap slot.

>>> from drgn_softleaf import for_each_leaf_entry
>>> for entry in for_each_leaf_entry(prog, pid=1):
...     print(hex(entry.addr), entry.kind.value)
"""

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.classify import (
    Kind,
    LeafEntry,
    batch_items,
    classify_item,
    classify_value,
    count_item,
)
from drgn_softleaf.checks import EntryAnomaly, ImpossibleCounter, entry_anomalies
from drgn_softleaf.enrich import Enricher, FolioInfo, SwapInfo
from drgn_softleaf.target import get_target
from drgn_softleaf.walk import Vma, WalkItem, mm_pgd_phys, mm_vmas, walk_range

__all__ = (
    "AddressLookup",
    "AddressSpace",
    "Enriched",
    "ScanError",
    "address_space",
    "classify_raw",
    "enrich_consistent",
    "enrich_entry",
    "for_each_address_space",
    "for_each_leaf_entry",
    "lookup_address",
    "space_counts",
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
    from drgn_softleaf.live import consistent, is_live, read_leaf

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


@dataclass(frozen=True)
class AddressLookup:
    """
    What is at an address: the entry at every level on the way down,
    (level, physical address of the entry, value, role), and the leaf.
    """

    vma: Optional[Vma]
    path: Tuple[Tuple[str, int, int, str], ...]
    leaf: Optional[Enriched]


def lookup_address(space: AddressSpace, addr: int) -> AddressLookup:
    """
    Walk down to *addr* in *space* and decode the leaf entry there.

    >>> lookup_address(address_space(prog, pid=1), 0x7f0000000000).leaf
    """
    from drgn_softleaf.walk import walk_path

    from drgn_softleaf.live import consistent, is_live

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
        return AddressLookup(vma, steps, leaf_of(steps))
    # Live: the path, the folio, and the path again, until they agree.
    got = consistent(path, leaf_of)
    if got is None:
        steps = path()
        return AddressLookup(vma, steps[:-1] + ((steps[-1][0], steps[-1][1], steps[-1][2],
                                                 "unreadable"),), None)
    return AddressLookup(vma, got[0], got[1])
