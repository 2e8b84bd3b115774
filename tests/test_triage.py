# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.triage: its parts one at a time on the real dumps: the
verdict rules on real folios, and the typed keys by which a live scan
reads each counter again. (Whole reports: test_leaks.py, test_paths.py,
test_migration.py, test_ksm.py and the goldens.)"""

import dataclasses

import pytest

from conftest import load
from test_robustness import corrupted  # noqa: F401 (a fixture)
from drgn_softleaf.scan import for_each_address_space
from drgn_softleaf.triage import CounterKey, Task, scan_leaks
from drgn_softleaf.triage.confirm import _counter_reader
from drgn_softleaf.triage.rules import (
    _rule_mapping_cleared,
    _rule_refcount,
    _verdict,
)


def _folio(name, verdict):
    prog, _ = load(name)
    return next(f for f in scan_leaks(prog).folios if f.verdict == verdict)


def test_unlocked_is_leaked_whatever_else_holds():
    """softleaf_migration_sync(): an entry needs its folio locked, so an
    unlocked folio is leaked even with a migrator and no other problem."""
    f = _folio("linux-7.3-l5-leak", "leaked")
    assert not f.folio.locked
    task = Task(1, "x", "D", 0)
    from drgn_softleaf.triage import Migrator

    linked = [(Migrator(task, {f.folio.folio: "migrate_pages(): folio"}, True), "folio")]
    verdict, evidence = _verdict(f.folio, [], linked, [], [])
    assert verdict == "leaked" and evidence[0].startswith("PG_locked clear")


def test_locked_folio_verdicts():
    """A locked folio: in flight with a migrator that holds it, unknown
    when no migrator was found but stacks could not be unwound, stuck when
    none was found with every stack read, or when it is not what its
    entries say."""
    f = _folio("linux-7.3-l5-migrate", "in-flight")
    assert f.folio.locked and f.migrators
    from drgn_softleaf.triage import Migrator

    linked = [(Migrator(f.migrators[0], {f.folio.folio: "on list from"}, True), "on list from")]
    assert _verdict(f.folio, [], linked, [], [])[0] == "in-flight"
    unsure = [Migrator(f.migrators[0], {}, False)]
    assert _verdict(f.folio, [], [], unsure, [])[0] == "in-flight"
    assert _verdict(f.folio, [], [], [], [f.migrators[0]])[0] == "unknown"
    verdict, evidence = _verdict(f.folio, [], [], [], [])
    assert verdict == "stuck" and "no task holds it" in evidence[-1]
    assert _verdict(f.folio, ["refcount 0"], linked, [], [])[0] == "stuck"


def test_refcount_and_mapping_rules():
    """A frozen refcount (0) or a cleared mapping is the migrator's own
    doing while it holds the folio, a problem otherwise; a negative
    refcount always is."""
    info = _folio("linux-7.3-l5-migrate", "in-flight").folio
    frozen = dataclasses.replace(info, refcount=0)
    assert _rule_refcount(frozen, linked=True) is None
    assert _rule_refcount(frozen, linked=False) == "refcount 0"
    assert _rule_refcount(dataclasses.replace(info, refcount=-1), linked=True) == "refcount -1"
    assert _rule_refcount(info, linked=False) is None
    assert _rule_mapping_cleared(0, linked=True) is None
    assert _rule_mapping_cleared(0, linked=False).startswith("no mapping")
    assert _rule_mapping_cleared(0x1000, linked=False) is None


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-l5-quiescent",
                                  "linux-5.10-l5-swapcount", "linux-7.3-l5-swapcount"])
def test_every_counter_is_read_again_by_its_key(name):
    """Each counter check names its counter by a typed key (an mm, or a
    swap device's type), and reading it again by that key gives, on a dump,
    the same two numbers."""
    prog, _ = load(name)
    report = scan_leaks(prog)
    spaces = list(for_each_address_space(prog))
    mms = {s.mm.value_() for s in spaces}
    kinds = set()
    for check in report.counters:
        key = check.key
        assert isinstance(key, CounterKey)
        kinds.add(key.counter)
        if key.counter == "mm_swapents":
            assert key.mm in mms and key.swap_type is None
        else:
            assert key.swap_type is not None and key.mm is None
        assert _counter_reader(prog, check, spaces)() == (check.counter, check.found)
    assert kinds == {"mm_swapents", "swap_inuse"}


def test_counters_read_again_on_corrupted_tables(corrupted):
    """A dump does not change, so reading a counter check again must give
    its numbers back, also when the page tables hold impossible swap
    entries (past a device's end): what the re-read counts is what the
    scan counted (check_swap_slot()'s slots in use, for a device)."""
    prog, _, _ = corrupted
    report = scan_leaks(prog)
    assert any(a.what == "swap-past-end" for a in report.anomalies)
    spaces = list(for_each_address_space(prog))
    devices = [c for c in report.counters if c.key.counter == "swap_inuse"]
    assert devices
    for check in report.counters:
        assert _counter_reader(prog, check, spaces)() == (check.counter, check.found), check.what
