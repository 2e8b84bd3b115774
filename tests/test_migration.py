# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Frozen migration and planted leak: drgn-softleaf shows the migration entries
the debugger saw at the freeze, with the folio lock state read from the
folio head.
"""

import pytest

from conftest import fixtures_of_mode, load
from pagemap_oracle import PM_PFRAME
from drgn_softleaf import Enricher, Kind, enrich_entry, for_each_leaf_entry



def by_page(prog, pid):
    out = {}
    for entry in for_each_leaf_entry(prog, pid=pid):
        for off in range(0, entry.size, prog["PAGE_SIZE"].value_()):
            out[entry.addr + off] = entry
    return out


@pytest.mark.parametrize("name", fixtures_of_mode("migrate"))
def test_frozen_migration_entries(name):
    prog, manifest = load(name)
    pages = by_page(prog, manifest["pid"])
    enricher = Enricher(prog)
    seen_kinds = set()
    seen_levels = set()
    tail_entries = 0
    problems = []
    migrating = [p for p in manifest["pages"] if (p.get("expect") or {}).get("migrating")]
    assert migrating, "the manifest records no migrating pages"
    # Where folios migrate one at a time (5.10, 6.1), the builder froze the
    # THP's (the batch's last); the others are done.
    batched = manifest["freeze"].get("batched", True)
    if not batched:
        migrating = [p for p in migrating if p["region"] == "mig_thp"]
    for page in migrating:
        addr = page["addr"]
        entry = pages.get(addr)
        where = f"{page['region']} {addr:#x}"
        if entry is None or entry.kind.value != page["kind"]:
            problems.append(f"{where}: {entry.kind.value if entry else 'none'}, "
                            f"expected {page['kind']}")
            continue
        # The pfns were recorded just before the frozen (first) round, so
        # the migration entry carries the page's pfn from then.
        pfn = entry.pfn + ((addr - entry.addr) >> prog["PAGE_SHIFT"].value_())
        if pfn != page["pagemap"] & PM_PFRAME:
            problems.append(f"{where}: pfn {pfn:#x}, recorded {page['pagemap'] & PM_PFRAME:#x}")
        folio = enrich_entry(enricher, entry).folio
        if folio is None or folio.error or not folio.locked:
            problems.append(f"{where}: folio not locked: {folio}")
            continue
        if folio.page != folio.folio:
            tail_entries += 1
            assert folio.order > 0
        seen_kinds.add(entry.kind)
        seen_levels.add(entry.level)
    assert not problems, "\n".join(problems[:30])
    if not batched:
        assert seen_kinds == {Kind.MIGRATION_WRITE} and seen_levels == {"pmd"}
        return
    assert {Kind.MIGRATION_READ, Kind.MIGRATION_READ_EXCLUSIVE, Kind.MIGRATION_WRITE} <= seen_kinds
    assert {"pte", "pmd"} <= seen_levels, "no PMD-level migration entry"
    assert tail_entries > 0, "no entry points into a large folio's tail page"


@pytest.mark.parametrize("name", fixtures_of_mode("leak"))
def test_planted_leak(name):
    prog, manifest = load(name)
    leak = manifest["leak"]
    pages = by_page(prog, manifest["pid"])
    entry = pages[leak["addr"]]
    assert entry.raw == leak["planted"]
    assert entry.kind == Kind.MIGRATION_WRITE
    assert entry.pfn == leak["pfn"]
    folio = enrich_entry(Enricher(prog), entry).folio
    assert folio is not None and not folio.error
    assert not folio.locked, "the leaked entry's folio must be unlocked"
    # Every other page of the process is an ordinary present page.
    others = [e for e in pages.values() if e.addr != leak["addr"] and e.kind != Kind.PRESENT]
    assert not others


@pytest.mark.parametrize("name", fixtures_of_mode("leak"))
def test_leak_fixture_thread_stopped_in_wait(name):
    """Fixture self-check: the toucher thread is in the migration wait."""
    from drgn.helpers.linux.pid import find_task

    prog, manifest = load(name)
    task = find_task(prog, manifest["leak"]["toucher_tid"])
    functions = [frame.name for frame in prog.stack_trace(task)]
    assert manifest["leak"]["stopped_in"] in functions
    assert "do_swap_page" in functions


@pytest.mark.parametrize("name", fixtures_of_mode("numa"))
def test_numa_hint_entries_are_protnone(name):
    prog, manifest = load(name)
    hinted = [e for e in for_each_leaf_entry(prog, pid=manifest["pid"]) if e.protnone]
    assert hinted, "no NUMA hint (PROT_NONE) entry in the numa fixture"
    assert {e.protnone_reason for e in hinted} == {"numa_hint"}
    # The scanner hints whole VMAs of the task; the guest's own pages are
    # among them, and they are still present (PROT_NONE is present).
    recorded = {p["addr"] for p in manifest["pages"]}
    assert any(e.addr in recorded for e in hinted)
