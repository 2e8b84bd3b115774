# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage confirmation
-------------------

On a live kernel, every finding of a triage scan read again (see
:mod:`drgn_softleaf.live`): a leaked or stuck folio with its holders'
entries, an anomaly's entry judged again by the same rules, a counter and
what it counts. Those that persist unchanged are kept with their
:class:`~drgn_softleaf.live.Confirmation`; the others become
:class:`Transient`.
"""

import dataclasses
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.classify import classify_value
from drgn_softleaf.enrich import Enricher
from drgn_softleaf.live import Confirmation, confirm_all, consistent, read_leaf
from drgn_softleaf.scan import AddressSpace, outside_vma
from drgn_softleaf.target import Target
from drgn_softleaf.triage.collect import Collector
from drgn_softleaf.triage.counters import (
    read_mm_swapents,
    slot_in_use,
    swap_census,
    swap_inuse,
    task_rss_caches,
)
from drgn_softleaf.triage.records import (
    Anomaly,
    CounterCheck,
    LeakReport,
    MigrationFolio,
    Transient,
)
from drgn_softleaf.triage.rules import folio_mapping
from drgn_softleaf.vma import mm_vmas
from drgn_softleaf.walk import mm_pgd_phys

__all__ = ("confirm_live",)


def confirm_live(prog: Program, target: Target, collector: Collector,
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
    candidates += [((c.counter, c.found), _counter_reader(prog, c, spaces))
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
    anon, mapping, index = folio_mapping(Object(prog, "struct page *", info.folio))
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
        collector = Collector(prog)
        collector.entry(space, entry if vma is not None else outside_vma(entry), vma is not None)
        return raw, any(x.what == a.what for x in collector.report.anomalies)

    return read


def _counter_reader(prog: Program, check: CounterCheck,
                    spaces: Sequence[AddressSpace]) -> Callable[[], Any]:
    """Read a counter (by its :class:`~drgn_softleaf.triage.records.CounterKey`)
    and count what it counts in the page tables again."""
    key = check.key

    def read() -> Any:
        if key is None:
            return None
        if key.counter == "mm_swapents":
            space = next((s for s in spaces if s.mm.value_() == key.mm), None)
            if space is None:
                return None
            mm_swapents = prog.constant("MM_SWAPENTS").value_()
            counter = read_mm_swapents(space, mm_swapents, task_rss_caches(prog, mm_swapents))
            return counter, len(swap_census([space]))
        from drgn.helpers.linux.swap import for_each_swap_info

        enricher = Enricher(prog)
        slots = {(e.swap_type, e.swap_offset) for e in swap_census(spaces)
                 if e.swap_type == key.swap_type and slot_in_use(enricher, e)}
        for si in for_each_swap_info(prog) if "swap_info" in prog else ():
            type_, inuse = swap_inuse(si)
            if type_ == key.swap_type:
                return inuse, len(slots)
        return None

    return read
