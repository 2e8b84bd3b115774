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

The parts, bottom up: :mod:`~drgn_softleaf.triage.records` (what the
report holds), :mod:`~drgn_softleaf.triage.collect` (the walk of every
address space), :mod:`~drgn_softleaf.triage.counters` (swap counters
against the page tables), :mod:`~drgn_softleaf.triage.tasks` (migrators
and waiters, by stack), :mod:`~drgn_softleaf.triage.rules` (the verdicts)
and :mod:`~drgn_softleaf.triage.confirm` (reading a live kernel's findings
again).

>>> report = scan_leaks(prog)
>>> [f.verdict for f in report.folios]
['leaked']
"""

import time
from typing import Callable, Optional

from drgn import Program

from drgn_softleaf.live import DEFAULT_CONFIRMATIONS, DEFAULT_INTERVAL
from drgn_softleaf.probe import is_live
from drgn_softleaf.target import get_target
from drgn_softleaf.triage.collect import Collector, collect_entries, user_spaces
from drgn_softleaf.triage.confirm import confirm_live
from drgn_softleaf.triage.counters import check_counters
from drgn_softleaf.triage.records import (
    Anomaly,
    CounterCheck,
    CounterKey,
    Holder,
    LeakReport,
    MigrationFolio,
    Migrator,
    Task,
    Transient,
    Waiter,
)
from drgn_softleaf.triage.rules import judge_folios
from drgn_softleaf.triage.tasks import MIGRATOR_FUNCTIONS, examine_tasks

__all__ = (
    "Anomaly",
    "CounterCheck",
    "CounterKey",
    "Holder",
    "LeakReport",
    "MIGRATOR_FUNCTIONS",
    "MigrationFolio",
    "Migrator",
    "Task",
    "Transient",
    "Waiter",
    "scan_leaks",
)


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
    collector = Collector(prog)
    report = collector.report
    started = time.monotonic()
    spaces = user_spaces(prog, report)
    swap_counts = collect_entries(collector, spaces, progress)
    check_counters(prog, report, collector.swap_slots, swap_counts)
    migrators = examine_tasks(prog, report, collector.enricher, bool(collector.holders))
    judge_folios(prog, collector, migrators)
    if is_live(prog):
        report.live = True
        report.confirmations = confirmations
        report.interval = interval
        confirm_live(prog, target, collector, spaces, confirmations, interval, started)
    return report
