# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage
------

Whole-system findings built on the scan: migration entries grouped by folio
with a verdict (a migration in flight, a stuck one, or a leak), the tasks
waiting on them, and the other impossible states met on the way (entries
that cannot be, counters that disagree).

A migration entry may exist only while its folio is locked
(``softleaf_migration_sync()`` in include/linux/leafops.h). An entry whose
folio is unlocked will never be removed: every task touching the address
re-faults forever.

>>> report = scan_leaks(prog)
>>> [f.verdict for f in report.folios]
['leaked']
"""

import contextlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from drgn import FaultError, Object, ObjectAbsentError, Program

from drgn_softleaf.checks import check_invalid, check_swap_slot, pfn_valid
from drgn_softleaf.classify import (
    Kind,
    LeafEntry,
    batch_items,
    classify_item,
    classify_value,
    select_pte_group,
)
from drgn_softleaf.enrich import Enricher, FolioInfo
from drgn_softleaf.live import (
    DEFAULT_CONFIRMATIONS,
    DEFAULT_INTERVAL,
    Confirmation,
    confirm_all,
    consistent,
    is_live,
    is_local,
    read_leaf,
)
from drgn_softleaf.scan import AddressSpace, for_each_address_space
from drgn_softleaf.target import Target, get_target, has_member, has_symbol, has_type
from drgn_softleaf.walk import Unreadable, Vma, mm_pgd_phys, mm_vmas, walk_range

__all__ = (
    "Anomaly",
    "CounterCheck",
    "Holder",
    "LeakReport",
    "MigrationFolio",
    "Migrator",
    "Task",
    "Transient",
    "Waiter",
    "scan_leaks",
)

# Functions on the stack of a task that legitimately holds migration
# entries: page migration, THP split, device migration.
MIGRATOR_FUNCTIONS = (
    "migrate_pages",
    # Before folios (v5.x): one page at a time.
    "unmap_and_move",
    "__unmap_and_move",
    "unmap_and_move_huge_page",
    "move_to_new_page",
    "split_huge_page_to_list",
    "unmap_page",
    "migrate_pages_batch",
    "migrate_pages_sync",
    "migrate_folio_unmap",
    "migrate_folio_move",
    "move_to_new_folio",
    "remove_migration_ptes",
    "try_to_migrate",
    "unmap_folio",
    "remap_page",
    "__split_huge_page",
    "__folio_split",
    "split_huge_page_to_list_to_order",
    "migrate_vma_setup",
    "migrate_vma_pages",
    "migrate_vma_finalize",
    "migrate_device_range",
    "migrate_device_pages",
    "migrate_device_finalize",
)

# Functions a task waiting on a migration entry runs, newest first; which
# exist depends on the kernel (probed).
WAIT_FUNCTIONS = (
    "softleaf_entry_wait_on_locked",
    "migration_entry_wait_on_locked",
    "__migration_entry_wait",
    "migration_entry_wait",
    "pmd_migration_entry_wait",
    "migration_entry_wait_huge",
    "__migration_entry_wait_huge",
    # Before v5.17, __migration_entry_wait() slept here.
    "put_and_wait_on_page_locked",
)


@dataclass(frozen=True)
class Task:
    """A task, as the report names it."""

    pid: int
    comm: str
    state: str
    address: int


@dataclass(frozen=True)
class Holder:
    """A page-table entry that is a migration entry for a folio."""

    pid: int
    comm: str
    mm: int
    addr: int
    level: str
    raw: int
    kind: str
    pfn: int


@dataclass(frozen=True)
class Waiter:
    """A task in the migration wait or fault path."""

    task: Task
    function: str
    # The folio it waits on, when it can be resolved.
    folio: Optional[int]
    how: str


@dataclass(frozen=True)
class MigrationFolio:
    """
    A folio that migration entries point to, with its verdict:
    ``in-flight`` (locked, and a migrating task exists), ``stuck`` (locked,
    but no migrating task, or the folio is not what the entries say),
    ``leaked`` (not locked: nothing will ever remove the entries) or
    ``unknown`` (locked, no migrator found, but some task stacks could not
    be unwound, so a migrator cannot be ruled out: not a finding).

    :ivar confirmation: On a live kernel, how the finding held up when read
        again (``None`` on a vmcore, and for folios that are not findings).
    """

    folio: FolioInfo
    anon: Optional[bool]
    mapping: int
    index: Optional[int]
    holders: Tuple[Holder, ...]
    identity_problems: Tuple[str, ...]
    migrators: Tuple[Task, ...]
    waiters: Tuple[Waiter, ...]
    verdict: str
    confirmation: Optional[Confirmation] = None
    # What the verdict rests on, one line per fact (rule, task and frame,
    # fields).
    evidence: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Anomaly:
    """An entry or counter in a state the kernel never leaves it in."""

    what: str
    detail: str
    pid: Optional[int] = None
    comm: Optional[str] = None
    addr: Optional[int] = None
    level: Optional[str] = None
    raw: Optional[int] = None
    # The address space the entry is in (struct mm_struct *), to read it again.
    mm: Optional[int] = field(default=None, compare=False)
    confirmation: Optional[Confirmation] = None


@dataclass(frozen=True)
class CounterCheck:
    """A kernel counter compared with what the page tables hold."""

    what: str
    counter: int
    found: int
    # None: not checked (the page tables could not all be read).
    ok: Optional[bool]
    note: str = ""
    confirmation: Optional[Confirmation] = None


@dataclass(frozen=True)
class Transient:
    """A finding of a live scan that reading it again refuted: the state
    was read while it changed (not a finding, never in the exit status)."""

    what: str
    detail: str
    confirmation: Confirmation


@dataclass
class LeakReport:
    """Everything :func:`scan_leaks` found."""

    address_spaces: int = 0
    entries: int = 0
    folios: List[MigrationFolio] = field(default_factory=list)
    waiters: List[Waiter] = field(default_factory=list)
    anomalies: List[Anomaly] = field(default_factory=list)
    counters: List[CounterCheck] = field(default_factory=list)
    unreadable: List[Tuple[int, str, int, int, str]] = field(default_factory=list)
    wait_functions: Tuple[str, ...] = ()
    # Whether task stacks were examined for migrators and waiters (not
    # when no page table holds a migration entry).
    tasks_examined: bool = True
    # Tasks whose stacks could not be unwound (on a live kernel: every
    # running task), so they can be neither migrators nor waiters for sure.
    unwind_failed: List[Task] = field(default_factory=list)
    # A live kernel: findings were confirmed by reading them again.
    live: bool = False
    confirmations: int = 0
    interval: float = 0.0
    # Findings that reading again refuted.
    transient: List[Transient] = field(default_factory=list)
    # Address spaces not scanned, and why: (pid, comm, reason).
    left_out: List[Tuple[int, str, str]] = field(default_factory=list)

    @property
    def findings(self) -> int:
        """Leaked or stuck folios, anomalies and failed counter checks."""
        return (
            sum(f.verdict in ("leaked", "stuck") for f in self.folios)
            + len(self.anomalies)
            + sum(c.ok is False for c in self.counters)
        )

    @property
    def incomplete(self) -> bool:
        return bool(self.unreadable)


def _task(task: Object) -> Task:
    from drgn.helpers.linux.sched import task_state_to_char

    try:
        state = task_state_to_char(task)
    except (FaultError, LookupError, ValueError):
        state = "?"
    return Task(task.pid.value_(), task.comm.string_().decode(errors="replace"), state,
                task.value_())



def _stack_functions(prog: Program, task: Object) -> Optional[List[Tuple[str, object]]]:
    """The named frames of *task*'s stack, or ``None`` if it cannot be
    unwound (a running task of a live kernel)."""
    try:
        trace = prog.stack_trace(task)
    except (ValueError, FaultError, LookupError):
        return None
    out = []
    for frame in trace:
        name = frame.name
        if name:
            out.append((name, frame))
    return out


def _page_is_buddy(page: Object) -> bool:
    prog = page.prog_
    try:
        pgty = prog.constant("PGTY_buddy").value_()
    except LookupError:
        return False
    try:
        return (page.page_type.value_() >> 24) == pgty
    except (AttributeError, FaultError):
        return False


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



class _Collector:
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
            assert entry.pfn is not None
            if not self.valid_pfn(space, entry, "migration"):
                return
            folio = self.enricher.folio(entry.pfn)
            holder = Holder(space.pid, space.comm, space.mm.value_(), entry.addr, entry.level,
                            entry.raw, kind.value, entry.pfn)
            self.holders[folio.folio].append(holder)
            self.holder_vmas[folio.folio].append((holder, entry.vma))
        elif kind in (Kind.DEVICE_PRIVATE_READ, Kind.DEVICE_PRIVATE_WRITE):
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
        elif kind == Kind.HWPOISON:
            assert entry.pfn is not None
            if not self.valid_pfn(space, entry, "hwpoison"):
                return
            folio = self.enricher.folio(entry.pfn)
            poisoned = _hwpoisoned(self.enricher, entry, folio)
            if poisoned is False:
                self.anomaly("hwpoison-not-poisoned", f"hwpoison entry for pfn "
                             f"{entry.pfn:#x}, whose page lacks PG_hwpoison", space, entry)
        elif kind == Kind.SWAP:
            assert entry.swap_type is not None and entry.swap_offset is not None
            info = self.enricher.swap(entry.swap_type, entry.swap_offset)
            problem = check_swap_slot(entry, info)
            if info.error:
                self.unreadable(space, entry, info.error)
            elif problem is not None:
                self.anomaly(problem.what, problem.detail, space, entry)
            else:
                self.swap_slots[entry.swap_type].add(entry.swap_offset)
        elif kind == Kind.INVALID:
            problem = check_invalid(entry)
            assert problem is not None
            self.anomaly(problem.what, problem.detail, space, entry)




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


def _vma_gaps(vmas: Sequence[Vma], task_size: int) -> List[Vma]:
    """Pseudo-VMAs covering the user address range no VMA covers."""
    gaps = []
    prev = 0
    for v in vmas:
        if v.start > prev:
            gaps.append(Vma(0, prev, v.start, 0, None, False, True, False, gap=True))
        prev = max(prev, v.end)
    if prev < task_size:
        gaps.append(Vma(0, prev, task_size, 0, None, False, True, False, gap=True))
    return gaps


def scan_leaks(
    prog: Program,
    progress: Optional[Callable[[int, int], None]] = None,
    *,
    confirmations: int = DEFAULT_CONFIRMATIONS,
    interval: float = DEFAULT_INTERVAL,
) -> LeakReport:
    """
    Scan every address space once and triage its migration entries and
    impossible states.

    On a live kernel every finding is then read again *confirmations*
    times, *interval* seconds apart, and kept only if it persists unchanged
    (see :mod:`drgn_softleaf.live`); the refuted ones are counted in
    :attr:`LeakReport.transient`.

    :param progress: Called with (done, total) address spaces.
    """
    target = get_target(prog)
    collector = _Collector(prog)
    report = collector.report
    started = time.monotonic()
    spaces = _spaces(prog, report)
    swap_counts = _collect(prog, target, collector, spaces, progress)
    _check_counters(prog, collector, swap_counts)
    migrators = _examine_tasks(prog, collector)
    _judge_folios(prog, collector, migrators)
    if is_live(prog):
        report.live = True
        report.confirmations = confirmations
        report.interval = interval
        _confirm_live(prog, target, collector, spaces, confirmations, interval, started)
    return report


def _spaces(prog: Program, report: LeakReport) -> List[AddressSpace]:
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


def _collect(prog: Program, target: Target, collector: _Collector,
             spaces: Sequence[AddressSpace],
             progress: Optional[Callable[[int, int], None]]
             ) -> List[Tuple[AddressSpace, int, bool]]:
    """The collection pass: walk every address space once, hand each
    entry to *collector*; return each space's count of swap entries (and
    whether its tables were all read)."""
    report = collector.report
    task_size = target.layout.user_range(target.levels)[1]
    swap_counts: List[Tuple[AddressSpace, int, bool]] = []
    for i, space in enumerate(spaces):
        report.address_spaces += 1
        try:
            vmas = mm_vmas(space.mm)
            pgd = mm_pgd_phys(space.mm)
        except FaultError as e:
            if is_live(prog) and _exited(prog, space):
                report.left_out.append((space.pid, space.comm, "exited while the scan ran"))
                continue
            report.unreadable.append((space.pid, space.comm, 0, 0, f"mm: {e}"))
            continue
        found_swap = 0
        # The VMAs and the gaps between them, in one walk.
        regions = sorted(vmas + _vma_gaps(vmas, task_size), key=lambda v: v.start)
        for item in batch_items(walk_range(prog, pgd, regions, target=target)):
            if isinstance(item, Unreadable):
                report.unreadable.append((space.pid, space.comm, item.start, item.end,
                                          item.reason))
                continue
            for entry in _triaged_entries(target, item, report):
                in_vma = entry.vma is not None and not entry.vma.gap
                if not in_vma:
                    entry = _outside(entry)
                collector.entry(space, entry, in_vma)
                if entry.kind == Kind.SWAP and in_vma:
                    found_swap += 1
        swap_counts.append((space, found_swap,
                            any(u[0] == space.pid for u in report.unreadable)))
        if progress is not None:
            progress(i + 1, len(spaces))
    return swap_counts


def _outside(entry: LeafEntry) -> LeafEntry:
    """*entry* without its (gap) VMA."""
    return LeafEntry(None, entry.addr, entry.size, entry.level, entry.raw, entry.kind)


def _exited(prog: Program, space: AddressSpace) -> bool:
    """Whether the task of *space* has exited or dropped that mm since it
    was listed (a live kernel)."""
    from drgn.helpers.linux.pid import find_task

    try:
        task = find_task(prog, space.pid)
        return not task or task.mm.value_() != space.mm.value_()
    except FaultError:
        return True


def _mm_swapents(space: AddressSpace, mm_swapents: int,
                 task_caches: Optional[Dict[int, int]] = None) -> int:
    """
    The mm's MM_SWAPENTS count. Since Linux 6.2 (``mm->rss_stat`` an array
    of percpu counters) ``get_mm_counter()``; before, ``mm->rss_stat`` is a
    ``struct mm_rss_stat`` and each task keeps a cache of what it has not
    yet added to it (SPLIT_RSS_COUNTING, ``sync_mm_rss()`` in mm/memory.c):
    the count is the mm's plus its tasks' caches, *task_caches* (from
    :func:`_task_rss_caches`).
    """
    from drgn.helpers.linux.percpu import percpu_counter_sum

    rss_stat = space.mm.rss_stat
    if has_member(rss_stat, "count"):
        return rss_stat.count[mm_swapents].counter.value_() + \
            (task_caches or {}).get(space.mm.value_(), 0)
    stat = rss_stat[mm_swapents]
    return percpu_counter_sum(stat) if _is_percpu_counter(stat) else \
        stat.count.counter.value_()


def _task_rss_caches(prog: Program, mm_swapents: int) -> Optional[Dict[int, int]]:
    """mm address -> the MM_SWAPENTS its tasks have cached and not yet
    synced (``task->rss_stat``, before Linux 6.2); ``None`` where tasks have
    no such cache."""
    from drgn.helpers.linux.pid import for_each_task

    if not has_type(prog, "struct task_rss_stat"):
        return None
    caches: Dict[int, int] = defaultdict(int)
    for task in for_each_task(prog):
        mm = task.mm.value_()
        if mm:
            caches[mm] += task.rss_stat.count[mm_swapents].value_()
    return caches


def _check_counters(prog: Program, collector: _Collector,
                    swap_counts: Sequence[Tuple[AddressSpace, int, bool]]) -> None:
    """Each mm's MM_SWAPENTS against the swap entries in its page tables,
    and each swap device's in-use slots against the slots they use."""
    report = collector.report
    try:
        mm_swapents: Optional[int] = prog.constant("MM_SWAPENTS").value_()
    except LookupError:
        mm_swapents = None
    if mm_swapents is not None:
        try:
            task_caches = _task_rss_caches(prog, mm_swapents)
        except FaultError:
            task_caches = None
        for space, found, partial in swap_counts:
            what = f"PID {space.pid} ({space.comm}) MM_SWAPENTS"
            try:
                counter = _mm_swapents(space, mm_swapents, task_caches)
            except (FaultError, LookupError, AttributeError, TypeError):
                continue
            if partial:
                report.counters.append(CounterCheck(
                    what, counter, found, None, "not checked: page tables partly unreadable"))
                continue
            ok = counter == found
            report.counters.append(CounterCheck(
                what, counter, found, ok, "" if ok else "rss_stat swap entries differ from "
                "the swap entries in its page tables"))
    from drgn.helpers.linux.swap import for_each_swap_info

    try:
        devices = list(for_each_swap_info(prog)) if "swap_info" in prog else []
    except FaultError as e:
        devices = []
        report.unreadable.append((0, "swap_info", 0, 0, f"swap devices: {e}"))
    for si in devices:
        try:
            type_, inuse = _swap_inuse(si)
        except FaultError as e:
            report.unreadable.append((0, "swap_info", 0, 0, f"swap device: {e}"))
            continue
        used = len(collector.swap_slots.get(type_, ()))
        # Unreadable page tables can only hide slots, not add them.
        ok = used <= inuse
        report.counters.append(CounterCheck(
            f"swap {_swap_name(si, type_)} in-use slots", inuse, used, ok,
            "page tables use more distinct slots than the device has in use" if not ok else
            "slots in use may exceed those in page tables: shmem and the swap cache hold "
            "slots too"))


def _swap_inuse(si: Object) -> Tuple[int, int]:
    """(type, in-use slots) of a swap device.

    :param si: ``struct swap_info_struct *``
    """
    type_ = si.type.value_()
    inuse = si.inuse_pages.counter.value_() if has_member(si.inuse_pages, "counter") \
        else si.inuse_pages.value_()
    return type_, inuse


def _swap_name(si: Object, type_: int) -> str:
    from drgn.helpers.linux.swap import swap_file_path

    try:
        return swap_file_path(si).decode(errors="replace")
    except FaultError:
        return f"type {type_} (path unreadable)"


@dataclass(frozen=True)
class Migrator:
    """
    A task that holds folios under migration entries, and which ones.

    :ivar folios: Folio address -> how this task holds it (the frame and
        variable or list that names it).
    :ivar complete: Whether *folios* is all it holds (its batch lists were
        read); if not, it may hold folios it does not name.
    """

    task: Task
    folios: Dict[int, str]
    complete: bool


# Local variables of a migrating frame that hold its batch (mm/migrate.c:
# migrate_pages() and migrate_pages_batch() keep the folios they work on
# on these lists, linked by folio->lru, until each is moved or given up).
_BATCH_LISTS = ("from", "unmap_folios", "dst_folios", "folios", "ret_folios",
                "split_folios", "src_folios")
# A batch list longer than this is taken as unreadable.
_LIST_LIMIT = 1 << 16


def _examine_tasks(prog: Program, collector: _Collector) -> List[Migrator]:
    """
    Tasks: migrators and waiters, by stack. A task waits on a migration
    entry of some page table, and a migrator holds some: with none in any
    page table (and all of them read), no stack needs unwinding. Returns
    the migrating tasks (by a frame of :data:`MIGRATOR_FUNCTIONS`) with the
    folios they hold.
    """
    from drgn.helpers.linux.pid import for_each_task

    report = collector.report
    wait_functions = tuple(f for f in WAIT_FUNCTIONS if has_symbol(prog, f))
    report.wait_functions = wait_functions
    migrators: List[Migrator] = []
    waiters: List[Waiter] = []
    sleepers: Optional[Dict[int, int]] = None
    report.tasks_examined = bool(collector.holders) or report.incomplete
    for task in for_each_task(prog) if report.tasks_examined else ():
        frames = _stack_functions(prog, task)
        if frames is None:
            report.unwind_failed.append(_task(task))
            continue
        names = [n for n, _ in frames]
        if any(n in MIGRATOR_FUNCTIONS for n in names):
            with _quiet_dwarf():
                folios, complete = _migrator_folios(prog, frames)
            migrators.append(Migrator(_task(task), folios, complete))
        hit = next((n for n in names if n in wait_functions), None)
        if hit is not None:
            folio, how = _waiter_folio(prog, dict(frames)[hit], collector)
            if folio is None:
                sleepers = _folio_sleepers(prog) if sleepers is None else sleepers
                folio = sleepers.get(task.value_())
                if folio is not None:
                    how = "folio wait queue"
            waiters.append(Waiter(_task(task), hit, folio, how))
    report.waiters = waiters
    return migrators


def _migrator_folios(prog: Program, frames: Sequence[Tuple[str, object]]
                     ) -> Tuple[Dict[int, str], bool]:
    """
    The folios a migrating task holds: those its migration frames name (a
    ``struct folio *`` or ``struct page *`` variable: ``src``, ``folio``)
    and those on its batch lists (:data:`_BATCH_LISTS`). Complete if a
    batch list was read (the frames' variables alone name only the folio
    being worked on).
    """
    from drgn.helpers.linux.list import list_for_each

    folios: Dict[int, str] = {}
    complete = False
    for name, frame in frames:
        if name not in MIGRATOR_FUNCTIONS:
            continue
        for var in _frame_locals(frame):
            try:
                v = frame[var]  # type: ignore[index]
                type_ = v.type_.unqualified()
                kind = type_.kind.name
                target = type_.type.unqualified() if kind == "POINTER" else type_
                tag = getattr(target, "tag", None)
                if kind == "POINTER" and tag in ("folio", "page"):
                    if v.value_():
                        head = _head(prog, v)
                        folios.setdefault(head, f"{name}(): {var}")
                elif tag == "list_head" and var in _BATCH_LISTS:
                    head_ptr = v if kind == "POINTER" else v.address_of_()
                    n = 0
                    for node in list_for_each(head_ptr):
                        n += 1
                        if n > _LIST_LIMIT:
                            raise ValueError("list too long")
                        folio = container_of_folio(prog, node)
                        folios.setdefault(folio, f"{name}(): on list {var}")
                    complete = True
            except (KeyError, LookupError, FaultError, AttributeError, ValueError,
                    ObjectAbsentError):
                continue
    return folios, complete


def _frame_locals(frame: object) -> List[str]:
    try:
        return list(frame.locals())  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return []


@contextlib.contextmanager
def _quiet_dwarf() -> Iterator[None]:
    """Reading every local of every frame meets DWARF that drgn cannot
    evaluate (it logs a warning for each, e.g. DW_OP_GNU_uninit); such a
    variable is simply unavailable here, so keep the user's terminal free of
    those warnings."""
    import logging

    logger = logging.getLogger("drgn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _head(prog: Program, ptr: Object) -> int:
    """The folio (head page) a ``struct folio *`` or ``struct page *`` is."""
    from drgn.helpers.linux.mm import compound_head

    if ptr.type_.type.unqualified().tag == "page":
        return compound_head(ptr).value_()
    return ptr.value_()


def container_of_folio(prog: Program, node: Object) -> int:
    """The folio whose ``lru`` is *node* (before folios, the page's)."""
    from drgn import container_of

    if has_type(prog, "struct folio"):
        return container_of(node, "struct folio", "lru").value_()
    return _head(prog, container_of(node, "struct page", "lru"))


# include/linux/migrate.h: a migrate_vma src entry is the pfn shifted by
# MIGRATE_PFN_SHIFT with flag bits below; MIGRATE_PFN_MIGRATE marks a page
# migrate_vma_setup() collected, locked and replaced by migration entries.
MIGRATE_PFN_VALID = 1 << 0
MIGRATE_PFN_MIGRATE = 1 << 1
MIGRATE_PFN_SHIFT = 6


def _device_migrators(prog: Program) -> List[Migrator]:
    """
    Tasks in a device migration (``migrate_vma_setup()`` ...
    ``migrate_vma_pages()`` / ``migrate_vma_finalize()``, mm/migrate_device.c):
    a driver keeps a ``struct migrate_vma`` on its stack (or a pointer to
    one) for the whole migration, and while it copies, often asleep on a
    DMA fence, none of the kernel's migration functions is on the stack.
    Its ``src`` array names the folios it holds locked under migration
    entries. Every task's frames are searched for such a variable.
    """
    from drgn.helpers.linux.mm import compound_head, pfn_to_page
    from drgn.helpers.linux.pid import for_each_task

    if not has_type(prog, "struct migrate_vma"):
        return []
    out = []
    for task in for_each_task(prog):
        frames = _stack_functions(prog, task)
        folios: Dict[int, str] = {}
        for name, frame in frames or ():
            for var in _frame_locals(frame):
                try:
                    v = frame[var]  # type: ignore[index]
                    type_ = v.type_.unqualified()
                    if type_.kind.name == "POINTER":
                        if type_.type.unqualified().tag != "migrate_vma" or not v.value_():
                            continue
                        args = v[0]
                    elif getattr(type_, "tag", None) == "migrate_vma":
                        args = v
                    else:
                        continue
                    src = args.src
                    for i in range(min(args.npages.value_(), 1 << 16)):
                        entry = src[i].value_()
                        if entry & MIGRATE_PFN_MIGRATE and entry & MIGRATE_PFN_VALID:
                            head = compound_head(pfn_to_page(prog, entry >> MIGRATE_PFN_SHIFT))
                            folios.setdefault(head.value_(),
                                              f"{name}(): {var}.src[{i}] (struct migrate_vma)")
                except (KeyError, LookupError, FaultError, AttributeError, ValueError,
                        ObjectAbsentError):
                    continue
        if folios:
            out.append(Migrator(_task(task), folios, True))
    return out


def _judge_folios(prog: Program, collector: _Collector,
                  migrators: Sequence[Migrator]) -> None:
    """A verdict for each folio under migration entries, with its evidence:
    the rules below, one function each, then :func:`_verdict`."""
    report = collector.report
    infos = {head: collector.enricher.folio(holders[0].pfn)
             for head, holders in collector.holders.items()}
    # Device migrations are searched for only when a locked folio has no
    # migrator otherwise (it means reading every task's frames).
    if any(info.locked and not any(head in m.folios for m in migrators)
           for head, info in infos.items()):
        with _quiet_dwarf():
            migrators = list(migrators) + _device_migrators(prog)
    for head, holders in collector.holders.items():
        info = infos[head]
        head_obj = Object(prog, "struct page *", head)
        anon, mapping, index = _folio_mapping(head_obj)
        linked = [(m, m.folios[head]) for m in migrators if head in m.folios]
        # A migrator whose batch lists could not be read may hold folios it
        # does not name: it cannot be ruled out (not linked, not excluded).
        unsure = [m for m in migrators if head not in m.folios and not m.complete]
        problems = [p for p in (
            _rule_refcount(info, bool(linked)),
            _rule_free(head_obj),
            # (Not when the mapping could not be read: anon is None then.)
            _rule_mapping_cleared(mapping, bool(linked)) if anon is not None else None,
            *(_identity(prog, head_obj, anon, mapping, index, holder, vma)
              for holder, vma in collector.holder_vmas[head]),
        ) if p]
        verdict, evidence = _verdict(info, problems, linked, unsure, report.unwind_failed)
        report.folios.append(MigrationFolio(
            folio=info, anon=anon, mapping=mapping, index=index, holders=tuple(holders),
            identity_problems=tuple(dict.fromkeys(problems)),
            migrators=tuple(dict.fromkeys([m.task for m, _ in linked] +
                                          [m.task for m in unsure])),
            waiters=tuple(w for w in report.waiters if w.folio == head), verdict=verdict,
            evidence=tuple(evidence),
        ))
    report.folios.sort(key=lambda f: (_VERDICT_ORDER[f.verdict], f.folio.folio))


def _rule_refcount(info: FolioInfo, linked: bool) -> Optional[str]:
    """A folio under migration entries is referenced: a refcount of 0 or
    less means it was freed, unless the task holding it froze the count
    (``folio_ref_freeze()`` in ``__folio_migrate_mapping()``, mm/migrate.c,
    and ``__folio_split()``, mm/huge_memory.c, hold it at 0 while they move
    the mapping over)."""
    if info.refcount < 0 or (info.refcount == 0 and not linked):
        return f"refcount {info.refcount}"
    return None


def _rule_free(head: Object) -> Optional[str]:
    """A folio in the buddy allocator (``PageBuddy()``) is no folio at all."""
    return "the folio is free (in the buddy allocator)" if _page_is_buddy(head) else None


def _rule_mapping_cleared(mapping: int, linked: bool) -> Optional[str]:
    """A folio under migration entries has its mapping, except the one its
    migrator is finishing: ``move_to_new_folio()`` (mm/migrate.c) clears
    it. (For mapped folios the identity rule says which mapping.)"""
    if mapping == 0 and not linked:
        return "no mapping: the folio was already migrated or freed"
    return None


def _verdict(info: FolioInfo, problems: Sequence[str],
             linked: Sequence[Tuple[Migrator, str]], unsure: Sequence[Migrator],
             unwind_failed: Sequence[Task]) -> Tuple[str, List[str]]:
    """
    The verdict from the evidence: a migration entry may exist only while
    its folio is locked (``softleaf_migration_sync()``,
    include/linux/leafops.h), so unlocked is ``leaked``; locked but not
    what the entries say is ``stuck``; locked and held by a task is
    ``in-flight``; locked, held by no task found, but with stacks that
    could not be unwound, ``unknown``; else ``stuck``.
    """
    evidence = [f"PG_locked {'set' if info.locked else 'clear'} "
                "(softleaf_migration_sync(): a migration entry needs its folio locked)"]
    evidence += [f"held by {m.task.pid} ({m.task.comm}): {how}" for m, how in linked]
    evidence += [f"maybe held by {m.task.pid} ({m.task.comm}): migrating, its batch "
                 "lists unreadable" for m in unsure]
    evidence += [f"identity: {p}" for p in problems]
    if not info.locked:
        return "leaked", evidence
    if problems:
        return "stuck", evidence
    if linked or unsure:
        return "in-flight", evidence
    if unwind_failed:
        evidence.append(f"no migrator found; {len(unwind_failed)} task stacks could not be "
                        "unwound")
        return "unknown", evidence
    evidence.append("no task holds it: no migration frame names it or has it on a batch "
                    "list, no device migration's src array has it")
    return "stuck", evidence


_VERDICT_ORDER = {"leaked": 0, "stuck": 1, "unknown": 2, "in-flight": 3}


# -- live kernels: confirming findings ----------------------------------------


def _confirm_live(prog: Program, target: Target, collector: _Collector,
                  spaces: Sequence[AddressSpace], confirmations: int, interval: float,
                  started: float) -> None:
    """
    Read every finding of a live scan again, *confirmations* times: keep
    those that persist unchanged (with how long and over how many reads),
    and move the others to :attr:`LeakReport.transient`.
    """
    report = collector.report
    folios = [f for f in report.folios if f.verdict in ("leaked", "stuck")]
    counters = [c for c in report.counters if c.ok is False]
    candidates: List[Tuple[Any, Callable[[], Any]]] = []
    candidates += [(_folio_state_expected(f), _folio_state_reader(prog, target, f))
                   for f in folios]
    candidates += [((a.raw, True), _anomaly_reader(prog, target, a)) for a in report.anomalies]
    candidates += [((c.counter, c.found), _counter_reader(prog, target, c, spaces))
                   for c in counters]
    if not candidates:
        return
    results = iter(confirm_all(candidates, confirmations, interval, started))
    kept = _sort_out(report, folios, results, lambda f: Transient(
        f"{f.verdict} folio", f"folio {f.folio.folio:#x} pfn {f.folio.folio_pfn:#x}, held by "
        + ", ".join(f"PID {h.pid} at {h.addr:#x}" for h in f.holders), f.confirmation))
    report.folios = [kept.get(id(f), f) for f in report.folios
                     if f.verdict not in ("leaked", "stuck") or id(f) in kept]
    kept = _sort_out(report, report.anomalies, results, lambda a: Transient(
        a.what, f"PID {a.pid} at {a.addr:#x}: {a.detail}" if a.addr is not None else a.detail,
        a.confirmation))
    report.anomalies = [kept[id(a)] for a in report.anomalies if id(a) in kept]
    kept = _sort_out(report, counters, results, lambda c: Transient(
        "counter mismatch", f"{c.what}: {c.counter} against {c.found}", c.confirmation))
    report.counters = [kept.get(id(c), c) for c in report.counters
                       if c.ok is not False or id(c) in kept]


def _sort_out(report: LeakReport, findings: Sequence[Any], results: Iterator[Confirmation],
              transient: Callable[[Any], Transient]) -> Dict[int, Any]:
    """Take each finding's confirmation from *results*: the persisting
    ones, with their confirmation, by ``id()`` of the original; the others
    go to :attr:`LeakReport.transient`."""
    kept = {}
    for finding in findings:
        confirmed = _replace(finding, confirmation=next(results))
        if confirmed.confirmation.persisted:
            kept[id(finding)] = confirmed
        else:
            report.transient.append(transient(confirmed))
    return kept


def _replace(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _pgd(prog: Program, mm: int) -> int:
    return mm_pgd_phys(Object(prog, "struct mm_struct *", mm))


def _folio_fields(prog: Program, pfn: int) -> Tuple[Tuple[str, Any], ...]:
    """
    What a folio verdict rests on, read now (no cache): which folio, its
    lock bit, mapping and index, and whether its refcount is zero. Not the
    refcount itself: a task faulting on a leaked entry takes and drops a
    reference each time (``softleaf_entry_wait_on_locked()``), so the
    count of a genuinely leaked folio moves.
    """
    info = Enricher(prog).folio(pfn)
    if info.error:
        return (("error", info.error),)
    anon, mapping, index = _folio_mapping(Object(prog, "struct page *", info.folio))
    return (("folio", info.folio), ("locked", info.locked),
            ("refcount zero", info.refcount <= 0), ("mapping", mapping), ("index", index))


def _folio_state_expected(f: MigrationFolio) -> Any:
    info = f.folio
    return (("entries", tuple(h.raw for h in f.holders)),
            (("folio", info.folio), ("locked", info.locked),
             ("refcount zero", info.refcount <= 0), ("mapping", f.mapping),
             ("index", f.index)))


def _folio_state_reader(prog: Program, target: Target,
                        f: MigrationFolio) -> Callable[[], Any]:
    """Read a folio verdict's state again: its holders' entries, the folio,
    and the entries again (so that entries and folio are of one state)."""
    holders = f.holders
    pfn = holders[0].pfn

    def entries() -> Tuple[Optional[int], ...]:
        out = []
        for h in holders:
            try:
                out.append(read_leaf(prog, target, _pgd(prog, h.mm), h.addr, h.level))
            except FaultError:
                out.append(None)
        return tuple(out)

    def read() -> Any:
        got = consistent(entries, lambda _: _folio_fields(prog, pfn))
        if got is None:
            return None
        return (("entries", got[0]), got[1])

    return read


def _anomaly_reader(prog: Program, target: Target, a: Anomaly) -> Callable[[], Any]:
    """Read an anomaly's entry again, with its VMA, and judge it by the same
    rules: (the entry's value, whether the same anomaly is found)."""

    def read() -> Any:
        if a.mm is None or a.addr is None or a.level is None:
            return None
        mm = Object(prog, "struct mm_struct *", a.mm)
        raw = read_leaf(prog, target, mm_pgd_phys(mm), a.addr, a.level)
        if raw is None:
            return None
        vma = next((v for v in mm_vmas(mm) if v.start <= a.addr < v.end), None)
        entry = classify_value(target, raw, a.level, vma=vma, addr=a.addr)
        space = AddressSpace(a.pid or 0, a.comm or "?", Object(prog, "struct task_struct *", 0),
                             mm)
        collector = _Collector(prog)
        collector.entry(space, entry if vma is not None else _outside(entry), vma is not None)
        return raw, any(x.what == a.what for x in collector.report.anomalies)

    return read


def _counter_reader(prog: Program, target: Target, check: CounterCheck,
                    spaces: Sequence[AddressSpace]) -> Callable[[], Any]:
    """Read a counter and count what it counts in the page tables again."""

    def read() -> Any:
        if check.what.endswith("MM_SWAPENTS"):
            space = next((s for s in spaces if check.what.startswith(f"PID {s.pid} ")), None)
            if space is None:
                return None
            mm_swapents = prog.constant("MM_SWAPENTS").value_()
            counter = _mm_swapents(space, mm_swapents, _task_rss_caches(prog, mm_swapents))
            return counter, len(_swap_census(prog, target, [space]))
        from drgn.helpers.linux.swap import for_each_swap_info

        slots = _swap_census(prog, target, spaces)
        for si in for_each_swap_info(prog) if "swap_info" in prog else ():
            type_, inuse = _swap_inuse(si)
            if check.what == f"swap {_swap_name(si, type_)} in-use slots":
                return inuse, sum(1 for t, _ in set(slots) if t == type_)
        return None

    return read


def _swap_census(prog: Program, target: Target,
                 spaces: Sequence[AddressSpace]) -> List[Tuple[int, int]]:
    """The (type, offset) of every swap entry in the VMAs of *spaces*."""
    out = []
    for space in spaces:
        vmas = mm_vmas(space.mm)
        for item in batch_items(walk_range(prog, mm_pgd_phys(space.mm), vmas, target=target)):
            if isinstance(item, Unreadable):
                continue
            for entry in _triaged_entries(target, item, LeakReport()):
                if entry.kind == Kind.SWAP:
                    assert entry.swap_type is not None and entry.swap_offset is not None
                    out.append((entry.swap_type, entry.swap_offset))
    return out


def _triaged_entries(target: Target, item: Any, report: LeakReport) -> Iterator[LeafEntry]:
    """
    The leaf entries of a walk item that triage looks at one by one: every
    entry but the present and marker PTEs, which are counted in *report*
    from the vector classification of whole tables (they are the bulk of a
    scan, and never a triage finding inside a VMA; outside one, the caller
    sees them too).
    """
    if not isinstance(item, list):
        yield from classify_item(target, item)
        return
    vma = item[0].vma
    # Present entries and markers are never findings inside a VMA: counted.
    # In a gap between VMAs, every entry is reported.
    quiet, others = select_pte_group(target, item,
                                     () if vma.gap else (Kind.PRESENT, Kind.MARKER))
    report.entries += quiet
    for addr, raw in others:
        yield classify_value(target, raw, "pte", vma=vma, addr=addr)


def _is_percpu_counter(obj: Object) -> bool:
    return has_member(obj, "counters")



def _folio_mapping(head: Object) -> Tuple[Optional[bool], int, Optional[int]]:
    try:
        mapping = head.mapping.value_()
        index = head.index.value_() if has_member(head, "index") else \
            head.__folio_index.value_()
    except (FaultError, LookupError, AttributeError):
        return None, 0, None
    # FOLIO_MAPPING_ANON (PAGE_MAPPING_ANON before 6.16) is bit 0.
    return bool(mapping & _FOLIO_MAPPING_ANON), mapping, index


def _identity(prog: Program, head: Object, anon: Optional[bool], mapping: int,
              index: Optional[int], holder: Holder, vma: Optional[Vma]) -> Optional[str]:
    """Check that the folio is what the holder's VMA and address say (a
    folio without a mapping is :func:`_rule_mapping_cleared`'s)."""
    if vma is None or index is None or anon is None or mapping == 0:
        return None
    from drgn.helpers.linux.mm import page_to_pfn

    try:
        v = Object(prog, "struct vm_area_struct *", vma.address)
        if vma.hugetlb:
            return None
        page_in_folio = holder.pfn - page_to_pfn(head).value_()
        linear = _linear_index(v, holder.addr, bool(anon),
                               get_target(prog).layout.page_shift)
        if anon:
            if mapping & _FOLIO_MAPPING_FLAGS == _FOLIO_MAPPING_KSM:
                # A KSM folio: mapping is its stable node, and the rmap walk
                # (rmap_walk_ksm() in mm/ksm.c) finds its VMAs through the
                # stable node's rmap items, not an anon_vma; its index is
                # not the address's. Nothing here to compare.
                return None
            if not v.anon_vma.value_():
                return f"anon folio mapped at {holder.addr:#x} whose VMA has no anon_vma"
            anon_vma = mapping & ~_FOLIO_MAPPING_FLAGS
            chain = _anon_vma_chain(v)
            if chain is not None and anon_vma not in chain:
                return (f"anon folio's anon_vma {anon_vma:#x} is not on its VMA's anon_vma "
                        "chain (rmap_walk_anon() would not find this mapping)")
        else:
            file = v.vm_file.read_()
            if not file:
                return f"file folio mapped at {holder.addr:#x} in an anonymous VMA"
            if file.f_mapping.value_() != mapping:
                return f"file folio's mapping {mapping:#x} is not its VMA's file"
        if index + page_in_folio != linear:
            return (f"folio index {index:#x}+{page_in_folio} does not match address "
                    f"{holder.addr:#x} (page {linear:#x} of the mapping)")
    except (FaultError, LookupError, AttributeError):
        return None
    return None


def _linear_index(vma: Object, addr: int, anon: bool, page_shift: int) -> int:
    """
    The index a folio mapped at *addr* in *vma* has: ``linear_page_index()``
    for a file folio, ``linear_anon_page_index()`` for an anonymous one
    (include/linux/pagemap.h).

    :param vma: ``struct vm_area_struct *``
    """
    delta = (addr - vma.vm_start.value_()) >> page_shift
    if anon and has_member(vma, "__vm_anon_pgoff_lo"):
        # Since Linux 7.x, a VMA keeps the anonymous page offset of its
        # start apart from vm_pgoff (vma_start_anon_pgoff() in
        # include/linux/mm.h): anonymous folios of a MAP_PRIVATE file
        # mapping are indexed by it, not by the file offset. Before, both
        # were vm_pgoff.
        pgoff = vma.__vm_anon_pgoff_lo.value_()
        if has_member(vma, "__vm_anon_pgoff_hi"):
            pgoff += vma.__vm_anon_pgoff_hi.value_() << 32
        return delta + pgoff
    return delta + vma.vm_pgoff.value_()


# include/linux/page-flags.h: the low bits of folio->mapping.
_FOLIO_MAPPING_ANON = 0x1
_FOLIO_MAPPING_KSM = 0x3
_FOLIO_MAPPING_FLAGS = 0x3
# An anon_vma chain longer than this is taken as unreadable.
_CHAIN_LIMIT = 1 << 16


def _anon_vma_chain(vma: Object) -> Optional[Set[int]]:
    """
    The anon_vmas a VMA is linked to (``vma->anon_vma_chain``: its own, and
    one per ancestor whose pages it may map after fork(), mm/rmap.c
    anon_vma_fork()). An anonymous folio is mapped in a VMA only if its
    anon_vma is one of them: ``rmap_walk_anon()`` finds VMAs through the
    folio's anon_vma's interval tree of those chain links. ``None`` if the
    chain cannot be read.

    :param vma: ``struct vm_area_struct *``
    """
    from drgn.helpers.linux.list import list_for_each_entry

    out = set()
    try:
        for avc in list_for_each_entry("struct anon_vma_chain",
                                       vma.anon_vma_chain.address_of_(), "same_vma"):
            out.add(avc.anon_vma.value_())
            if len(out) > _CHAIN_LIMIT:
                return None
    except (FaultError, LookupError):
        return None
    return out


def _folio_sleepers(prog: Program) -> Dict[int, int]:
    """Task address -> folio address for every task sleeping on a folio
    (mm/filemap.c's folio_wait_table: each entry is the ``wait`` member of a
    ``struct wait_page_queue`` naming its folio)."""
    from drgn import container_of
    from drgn.helpers.linux.wait import waitqueue_for_each_entry

    out: Dict[int, int] = {}
    try:
        table = prog["folio_wait_table"]
        for i in range(len(table)):
            for entry in waitqueue_for_each_entry(table[i].address_of_()):
                wpq = container_of(entry, "struct wait_page_queue", "wait")
                out[entry.private.value_()] = wpq.folio.value_()
    except (KeyError, LookupError, FaultError, TypeError):
        pass
    return out


def _waiter_folio(prog: Program, frame: object, collector: _Collector) -> Tuple[Optional[int], str]:
    """The folio a waiter waits on: from the wait function's entry argument,
    else from the folio wait queues."""
    target = get_target(prog)
    for var in ("entry", "folio", "page"):
        try:
            v = frame[var]  # type: ignore[index]
        except (KeyError, LookupError, ValueError):
            continue
        try:
            if var in ("folio", "page"):
                return _head(prog, v), f"{var} argument of the wait function"
            val = v.val.value_()
            ops = target.leafops
            if ops.softleaf_is_migration(val):
                pfn = ops.softleaf_to_pfn(val)
                return collector.enricher.folio(pfn).folio, "entry argument of the wait function"
        except (FaultError, LookupError, AttributeError, ValueError, ObjectAbsentError):
            continue
    # migration_entry_wait(mm, pmd, address) and friends before they read
    # the entry: the entry that maps the faulting address now.
    try:
        mm, address = frame["mm"], frame["address"]  # type: ignore[index]
        raw = read_leaf(prog, target, mm_pgd_phys(mm), address.value_(), "pte")
        if raw is not None and not target.layout.pte_present(raw) and raw:
            entry = target.leafops.softleaf_from_pte(raw)
            if target.leafops.softleaf_is_migration(entry):
                pfn = target.leafops.softleaf_to_pfn(entry)
                return (collector.enricher.folio(pfn).folio,
                        "the migration entry at the address argument of the wait function")
    except (KeyError, LookupError, FaultError, AttributeError, ValueError,
            ObjectAbsentError):
        pass
    return None, "not resolved (argument optimized out)"
