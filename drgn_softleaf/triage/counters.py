# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage counters
---------------

The kernel's own counts of swap entries, checked against the page tables:
each mm's MM_SWAPENTS against the swap entries in its VMAs, and each swap
device's in-use slots against the distinct slots the page tables use. Each
check carries a :class:`CounterKey` naming its counter, so that a live
kernel's counter can be read again.
"""

from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Set, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.checks import check_swap_slot
from drgn_softleaf.classify import Kind, LeafEntry
from drgn_softleaf.enrich import Enricher
from drgn_softleaf.probe import has_member, has_type
from drgn_softleaf.scan import AddressSpace, selected_entries
from drgn_softleaf.triage.records import CounterCheck, CounterKey, LeakReport
from drgn_softleaf.vma import mm_vmas

__all__ = (
    "check_counters",
    "read_mm_swapents",
    "slot_in_use",
    "swap_census",
    "swap_inuse",
    "task_rss_caches",
)


def read_mm_swapents(space: AddressSpace, mm_swapents: int,
                 task_caches: Optional[Dict[int, int]] = None) -> int:
    """
    The mm's MM_SWAPENTS count. Since Linux 6.2 (``mm->rss_stat`` an array
    of percpu counters) ``get_mm_counter()``; before, ``mm->rss_stat`` is a
    ``struct mm_rss_stat`` and each task keeps a cache of what it has not
    yet added to it (SPLIT_RSS_COUNTING, ``sync_mm_rss()`` in mm/memory.c):
    the count is the mm's plus its tasks' caches, *task_caches* (from
    :func:`task_rss_caches`).
    """
    from drgn.helpers.linux.percpu import percpu_counter_sum

    rss_stat = space.mm.rss_stat
    if has_member(rss_stat, "count"):
        return rss_stat.count[mm_swapents].counter.value_() + \
            (task_caches or {}).get(space.mm.value_(), 0)
    stat = rss_stat[mm_swapents]
    return percpu_counter_sum(stat) if _is_percpu_counter(stat) else \
        stat.count.counter.value_()


def task_rss_caches(prog: Program, mm_swapents: int) -> Optional[Dict[int, int]]:
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


def _is_percpu_counter(obj: Object) -> bool:
    return has_member(obj, "counters")


def check_counters(prog: Program, report: LeakReport, swap_slots: Dict[int, Set[int]],
                    swap_counts: Sequence[Tuple[AddressSpace, int, bool]]) -> None:
    """Each mm's MM_SWAPENTS against the swap entries in its page tables
    (*swap_counts*: (space, swap entries found, page tables partly
    unreadable)), and each swap device's in-use slots against the slots
    they use (*swap_slots*: swap type -> offsets)."""
    _check_mm_swapents(prog, report, swap_counts)
    _check_swap_devices(prog, report, swap_slots)


def _check_mm_swapents(prog: Program, report: LeakReport,
                       swap_counts: Sequence[Tuple[AddressSpace, int, bool]]) -> None:
    """Each mm's MM_SWAPENTS against the swap entries in its page tables."""
    try:
        mm_swapents = prog.constant("MM_SWAPENTS").value_()
    except LookupError:
        return
    try:
        task_caches = task_rss_caches(prog, mm_swapents)
    except FaultError:
        task_caches = None
    for space, found, partial in swap_counts:
        what = f"PID {space.pid} ({space.comm}) MM_SWAPENTS"
        key = CounterKey("mm_swapents", mm=space.mm.value_())
        try:
            counter = read_mm_swapents(space, mm_swapents, task_caches)
        except (FaultError, LookupError, AttributeError, TypeError):
            continue
        if partial:
            report.counters.append(CounterCheck(
                what, counter, found, None, "not checked: page tables partly unreadable",
                key=key))
            continue
        ok = counter == found
        report.counters.append(CounterCheck(
            what, counter, found, ok, "" if ok else "rss_stat swap entries differ from "
            "the swap entries in its page tables", key=key))


def _check_swap_devices(prog: Program, report: LeakReport,
                        swap_slots: Dict[int, Set[int]]) -> None:
    """Each swap device's in-use slots against the distinct slots the page
    tables use: unreadable page tables can only hide slots, not add them."""
    from drgn.helpers.linux.swap import for_each_swap_info

    try:
        devices = list(for_each_swap_info(prog)) if "swap_info" in prog else []
    except FaultError as e:
        devices = []
        report.unreadable.append((0, "swap_info", 0, 0, f"swap devices: {e}"))
    for si in devices:
        try:
            type_, inuse = swap_inuse(si)
        except FaultError as e:
            report.unreadable.append((0, "swap_info", 0, 0, f"swap device: {e}"))
            continue
        used = len(swap_slots.get(type_, ()))
        ok = used <= inuse
        report.counters.append(CounterCheck(
            f"swap {_swap_name(si, type_)} in-use slots", inuse, used, ok,
            "page tables use more distinct slots than the device has in use" if not ok else
            "slots in use may exceed those in page tables: shmem and the swap cache hold "
            "slots too", key=CounterKey("swap_inuse", swap_type=type_)))


def swap_inuse(si: Object) -> Tuple[int, int]:
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


def swap_census(spaces: Sequence[AddressSpace]) -> List[LeafEntry]:
    """Every swap entry in the VMAs of *spaces*."""
    out = []
    for space in spaces:
        for entry in selected_entries(space, mm_vmas(space.mm)):
            if isinstance(entry, LeafEntry) and entry.kind == Kind.SWAP:
                out.append(entry)
    return out


def slot_in_use(enricher: Enricher, entry: LeafEntry) -> bool:
    """Whether the collection pass counts the slot of swap entry *entry* as
    one in use: its device was read and ``check_swap_slot()`` accepts it
    (an impossible entry is an anomaly instead)."""
    assert entry.swap_type is not None and entry.swap_offset is not None
    info = enricher.swap(entry.swap_type, entry.swap_offset)
    return not info.error and check_swap_slot(entry, info) is None
