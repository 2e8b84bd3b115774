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
from drgn_softleaf.scan import AddressSpace, for_each_address_space
from drgn_softleaf.target import Target, get_target, has_member, has_symbol, has_type
from drgn_softleaf.walk import Unreadable, Vma, mm_pgd_phys, mm_vmas, walk_range

__all__ = (
    "Anomaly",
    "CounterCheck",
    "Holder",
    "LeakReport",
    "MigrationFolio",
    "Task",
    "Waiter",
    "scan_leaks",
)

# Functions on the stack of a task that legitimately holds migration
# entries: page migration, THP split, device migration.
MIGRATOR_FUNCTIONS = (
    "migrate_pages",
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
    but no migrating task, or the folio is not what the entries say) or
    ``leaked`` (not locked: nothing will ever remove the entries).
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


@dataclass(frozen=True)
class CounterCheck:
    """A kernel counter compared with what the page tables hold."""

    what: str
    counter: int
    found: int
    # None: not checked (the page tables could not all be read).
    ok: Optional[bool]
    note: str = ""


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

    @property
    def findings(self) -> int:
        """Leaked or stuck folios, anomalies and failed counter checks."""
        return (
            sum(f.verdict != "in-flight" for f in self.folios)
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



def _stack_functions(prog: Program, task: Object) -> List[Tuple[str, object]]:
    try:
        trace = prog.stack_trace(task)
    except (ValueError, FaultError, LookupError):
        return []
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
            Anomaly(what, detail, space.pid, space.comm, entry.addr, entry.level, entry.raw)
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


# The most pages of a hugetlb folio searched for PG_hwpoison (a 2 MiB one).
_HWPOISON_SEARCH = 512


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
    pages = entry.size >> get_target(enricher.prog).layout.page_shift
    if pages > _HWPOISON_SEARCH:
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
) -> LeakReport:
    """
    Scan every address space once and triage its migration entries and
    impossible states.

    :param progress: Called with (done, total) address spaces.
    """
    from drgn.helpers.linux.percpu import percpu_counter_sum
    from drgn.helpers.linux.pid import for_each_task

    target = get_target(prog)
    collector = _Collector(prog)
    report = collector.report
    spaces = list(for_each_address_space(prog))
    task_size = target.layout.user_range(target.levels)[1]
    swap_counts: List[Tuple[AddressSpace, int, bool]] = []
    for i, space in enumerate(spaces):
        report.address_spaces += 1
        try:
            vmas = mm_vmas(space.mm)
            pgd = mm_pgd_phys(space.mm)
        except FaultError as e:
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
                    entry = LeafEntry(None, *[getattr(entry, f) for f in (
                        "addr", "size", "level", "raw", "kind")])
                collector.entry(space, entry, in_vma)
                if entry.kind == Kind.SWAP and in_vma:
                    found_swap += 1
        swap_counts.append((space, found_swap,
                            any(u[0] == space.pid for u in report.unreadable)))
        if progress is not None:
            progress(i + 1, len(spaces))

    # Counters: each mm's swap-entry count.
    try:
        mm_swapents = prog.constant("MM_SWAPENTS").value_()
    except LookupError:
        mm_swapents = None
    if mm_swapents is not None:
        for space, found, partial in swap_counts:
            try:
                stat = space.mm.rss_stat[mm_swapents]
                counter = percpu_counter_sum(stat) if _is_percpu_counter(stat) else \
                    stat.count.counter.value_()
            except TypeError:
                # Before Linux 6.2, rss_stat is a struct mm_rss_stat whose
                # counts lag the per-task caches (SPLIT_RSS_COUNTING): no
                # exact count to compare with.
                report.counters.append(CounterCheck(
                    f"PID {space.pid} ({space.comm}) MM_SWAPENTS", 0, found, None,
                    "not checked: the kernel keeps per-task counts that lag this one"))
                continue
            except (FaultError, LookupError, AttributeError):
                continue
            if partial:
                check = CounterCheck(f"PID {space.pid} ({space.comm}) MM_SWAPENTS", counter,
                                     found, None, "not checked: page tables partly unreadable")
                report.counters.append(check)
                continue
            ok = counter == found
            check = CounterCheck(f"PID {space.pid} ({space.comm}) MM_SWAPENTS", counter, found,
                                 ok, "" if ok else "rss_stat swap entries differ from the "
                                 "swap entries in its page tables")
            report.counters.append(check)
    # Each swap device's in-use slots against the slots page tables use.
    from drgn.helpers.linux.swap import for_each_swap_info, swap_file_path

    try:
        devices = list(for_each_swap_info(prog))
    except FaultError as e:
        devices = []
        report.unreadable.append((0, "swap_info", 0, 0, f"swap devices: {e}"))
    for si in devices:
        try:
            type_ = si.type.value_()
            inuse = si.inuse_pages.counter.value_() if has_member(si.inuse_pages, "counter") \
                else si.inuse_pages.value_()
        except FaultError as e:
            report.unreadable.append((0, "swap_info", 0, 0, f"swap device: {e}"))
            continue
        try:
            name = swap_file_path(si).decode(errors="replace")
        except FaultError:
            name = f"type {type_} (path unreadable)"
        used = len(collector.swap_slots.get(type_, ()))
        # Unreadable page tables can only hide slots, not add them.
        ok = used <= inuse
        report.counters.append(CounterCheck(
            f"swap {name} in-use slots", inuse, used, ok,
            "page tables use more distinct slots than the device has in use" if not ok else
            "slots in use may exceed those in page tables: shmem and the swap cache hold "
            "slots too"))

    # Tasks: migrators and waiters, by stack. A task waits on a migration
    # entry of some page table, and a migrator holds some: with none in any
    # page table (and all of them read), no stack needs unwinding.
    wait_functions = tuple(f for f in WAIT_FUNCTIONS if has_symbol(prog, f))
    report.wait_functions = wait_functions
    migrators: List[Tuple[Task, Set[int]]] = []
    waiters: List[Waiter] = []
    sleepers: Optional[Dict[int, int]] = None
    report.tasks_examined = bool(collector.holders) or report.incomplete
    for task in for_each_task(prog) if report.tasks_examined else ():
        frames = _stack_functions(prog, task)
        if not frames:
            continue
        names = [n for n, _ in frames]
        if any(n in MIGRATOR_FUNCTIONS for n in names):
            folios = set()
            for name, frame in frames:
                for var in ("src", "folio"):
                    try:
                        v = frame[var]  # type: ignore[index]
                        if v.type_.type.tag in ("folio", "page"):
                            folios.add(v.value_())
                    except (KeyError, LookupError, FaultError, AttributeError, ValueError,
                            ObjectAbsentError):
                        continue
            migrators.append((_task(task), folios))
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

    for head, holders in collector.holders.items():
        info = collector.enricher.folio(holders[0].pfn)
        problems: List[str] = []
        head_obj = Object(prog, "struct page *", head)
        if info.refcount <= 0:
            problems.append(f"refcount {info.refcount}")
        if _page_is_buddy(head_obj):
            problems.append("the folio is free (in the buddy allocator)")
        anon, mapping, index = _folio_mapping(head_obj)
        for holder, vma in collector.holder_vmas[head]:
            problem = _identity(prog, head_obj, anon, mapping, index, holder, vma)
            if problem:
                problems.append(problem)
        # A migrating task's frames name the folio it is working on (src,
        # folio); the other folios of its batch are not on its stack. So a
        # folio is linked to the migrators that name it, else to every
        # migrating task.
        linked = tuple(t for t, folios in migrators if head in folios)
        folio_migrators = linked or tuple(t for t, _ in migrators)
        if mapping == 0 and linked:
            # The folio being finished: move_to_new_folio() has already
            # cleared its mapping.
            problems = [p for p in problems if not p.startswith("no mapping")]
        if info.refcount == 0 and linked:
            # The task working on this very folio froze its refcount:
            # folio_ref_freeze() in __folio_migrate_mapping() (mm/migrate.c)
            # and __folio_split() (mm/huge_memory.c) hold it at 0 while they
            # move the mapping over.
            problems = [p for p in problems if p != "refcount 0"]
        if not info.locked:
            verdict = "leaked"
        elif problems or not folio_migrators:
            verdict = "stuck"
        else:
            verdict = "in-flight"
        report.folios.append(MigrationFolio(
            folio=info, anon=anon, mapping=mapping, index=index, holders=tuple(holders),
            identity_problems=tuple(dict.fromkeys(problems)), migrators=folio_migrators,
            waiters=tuple(w for w in waiters if w.folio == head), verdict=verdict,
        ))
    report.folios.sort(key=lambda f: ({"leaked": 0, "stuck": 1, "in-flight": 2}[f.verdict],
                                      f.folio.folio))
    return report



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
    return bool(mapping & 1), mapping, index


def _identity(prog: Program, head: Object, anon: Optional[bool], mapping: int,
              index: Optional[int], holder: Holder, vma: Optional[Vma]) -> Optional[str]:
    """Check that the folio is what the holder's VMA and address say."""
    if vma is None or index is None or anon is None:
        return None
    if mapping == 0:
        return "no mapping: the folio was already migrated or freed"
    from drgn.helpers.linux.mm import page_to_pfn

    try:
        v = Object(prog, "struct vm_area_struct *", vma.address)
        if vma.hugetlb:
            return None
        page_in_folio = holder.pfn - page_to_pfn(head).value_()
        linear = _linear_index(v, holder.addr, bool(anon),
                               get_target(prog).layout.page_shift)
        if anon:
            anon_vma = v.anon_vma.value_()
            if not anon_vma:
                return f"anon folio mapped at {holder.addr:#x} whose VMA has no anon_vma"
            if (mapping & ~3) not in (anon_vma, _anon_root(prog, anon_vma)):
                return f"anon folio's anon_vma {mapping & ~3:#x} is not its VMA's"
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


def _anon_root(prog: Program, anon_vma: int) -> int:
    try:
        return Object(prog, "struct anon_vma *", anon_vma).root.value_()
    except (FaultError, LookupError):
        return 0


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
    for var in ("entry", "folio"):
        try:
            v = frame[var]  # type: ignore[index]
        except (KeyError, LookupError, ValueError):
            continue
        try:
            if var == "folio":
                return v.value_(), "folio argument of the wait function"
            val = v.val.value_()
            ops = target.leafops
            if ops.softleaf_is_migration(val):
                pfn = ops.softleaf_to_pfn(val)
                return collector.enricher.folio(pfn).folio, "entry argument of the wait function"
        except (FaultError, LookupError, AttributeError, ValueError, ObjectAbsentError):
            continue
    return None, "not resolved (argument optimized out)"
