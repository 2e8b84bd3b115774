# SPDX-License-Identifier: LGPL-2.1-or-later
"""Migration-entry leak triage (``leaks``) on the leak, frozen-migration and
quiescent fixtures."""

import json

import pytest

from conftest import fixtures_of_mode, load
from pagemap_oracle import PM_PFRAME
from drgn_softleaf.cli import main
from drgn_softleaf.demo import unpack
from drgn_softleaf.triage import scan_leaks



def leaks_cli(name, capsys, fmt="json"):
    fx = unpack(name)
    status = main(["-c", str(fx.vmcore), "-s", str(fx.vmlinux), "leaks", "--format", fmt])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", fixtures_of_mode("leak"))
def test_leak_fixture(name, capsys):
    _, manifest = load(name)
    leak = manifest["leak"]
    status, out, err = leaks_cli(name, capsys)
    assert status == 1, err
    doc = json.loads(out)
    assert doc["exit_status"] == 1
    assert doc["summary"]["leaked"] == 1 and doc["summary"]["stuck"] == 0
    (folio,) = [f for f in doc["folios"] if f["verdict"] == "leaked"]
    assert folio["pfn"] == leak["pfn"]
    assert folio["locked"] is False
    (holder,) = folio["holders"]
    assert (holder["pid"], holder["addr"], holder["level"], holder["kind"], holder["raw"]) == (
        manifest["pid"], leak["addr"], "pte", "migration_write", leak["planted"])
    assert holder["mm"] == leak["mm"]
    # The thread stopped in the fault path is the folio's waiter.
    assert [w["pid"] for w in folio["waiters"]] == [leak["toucher_tid"]]
    (waiter,) = [w for w in doc["waiters"] if w["pid"] == leak["toucher_tid"]]
    assert waiter["function"] == leak["stopped_in"]
    assert waiter["folio"] == folio["folio"]


@pytest.mark.parametrize("name", fixtures_of_mode("leak"))
def test_leak_report_table(name, capsys):
    status, out, err = leaks_cli(name, capsys, fmt="table")
    assert status == 1, err
    assert "LEAKED: folio" in out and "NOT locked" in out
    assert "waiter:" in out


@pytest.mark.parametrize("name", fixtures_of_mode("migrate"))
def test_frozen_migration_is_in_flight(name, capsys):
    prog, manifest = load(name)
    status, out, err = leaks_cli(name, capsys)
    assert status == 0, err
    doc = json.loads(out)
    assert doc["folios"], "no migration folios found"
    assert {f["verdict"] for f in doc["folios"]} == {"in-flight"}
    for f in doc["folios"]:
        assert f["locked"] is True
        assert (manifest["pid"], "scenario") in {(m["pid"], m["comm"]) for m in f["migrators"]}
        # Linked by the migrator's own frames or batch lists, not by "some
        # task is migrating".
        assert any(e.startswith(f"held by {manifest['pid']} (scenario): ")
                   for e in f["evidence"]), f["evidence"]
    # Tail-page entries resolve to their folio: each large folio is one
    # report entry holding every entry that points into it.
    migrating = [p for p in manifest["pages"] if (p.get("expect") or {}).get("migrating")]
    if not manifest["freeze"].get("batched", True):
        # One folio at a time (5.10, 6.1): the THP's.
        migrating = [p for p in migrating if p["region"] == "mig_thp"]
    by_pfn = {}
    for f in doc["folios"]:
        for h in f["holders"]:
            span = 1 << f["order"] if h["level"] == "pmd" else 1
            for i in range(span):
                by_pfn[h["pfn"] + i] = f
    for page in migrating:
        f = by_pfn[page["pagemap"] & PM_PFRAME]
        assert f["pfn"] <= page["pagemap"] & PM_PFRAME < f["pfn"] + (1 << f["order"])
    large = [f for f in doc["folios"] if f["order"] > 0]
    if manifest["freeze"].get("batched", True):
        assert any(len(f["holders"]) == 1 << f["order"] for f in large), \
            "no PTE-mapped large folio"
    assert any(h["level"] == "pmd" for f in large for h in f["holders"])
    # The report covers every migrating page the guest recorded.
    assert len(by_pfn) >= len(migrating)


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent", "numa"))
def test_quiescent_has_no_findings(name, capsys):
    status, out, err = leaks_cli(name, capsys)
    assert status == 0, err
    doc = json.loads(out)
    assert doc["summary"]["findings"] == 0
    assert doc["folios"] == [] and doc["anomalies"] == []
    # The swap entries of the scenario are all counted by the kernel too.
    assert all(c["ok"] for c in doc["counters"])


def test_api_report_matches(capsys):
    (name,) = fixtures_of_mode("leak")[:1]
    prog, manifest = load(name)
    report = scan_leaks(prog)
    assert [f.verdict for f in report.folios] == ["leaked"]
    assert report.findings == 1


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.12-l5-quiescent",
                                  "linux-7.3-l5-paths", "linux-6.1-l5-quiescent",
                                  "linux-5.10-l5-quiescent", "linux-7.3-arm64-l5-quiescent",
                                  "linux-7.3-arm64-64k-l3-quiescent",
                                  "linux-6.1-arm64-l4-quiescent"])
def test_identity_holds_for_every_present_folio(name):
    """The identity rule that calls a migration folio `stuck` when it is not
    what its entry says (mapping and index against the VMA and address)
    holds for every present page of every process of a quiescent dump:
    anonymous folios in anonymous VMAs and in private file mappings (whose
    index is linear_anon_page_index() on 7.x, linear_page_index() before),
    file folios. No healthy folio may fail it."""
    from drgn import Object

    from drgn_softleaf import Kind, for_each_address_space, for_each_leaf_entry
    from drgn_softleaf.triage import Holder
    from drgn_softleaf.triage.rules import _identity, folio_mapping as _folio_mapping

    from drgn.helpers.linux.mm import compound_head, pfn_to_page

    prog, _ = load(name)
    checked = anon_in_file = 0
    problems = []
    for space in for_each_address_space(prog):
        for entry in for_each_leaf_entry(prog, mm=space.mm):
            if entry.kind != Kind.PRESENT or entry.vma is None or entry.level != "pte":
                continue
            head = compound_head(pfn_to_page(prog, entry.pfn))
            anon, mapping, index = _folio_mapping(head)
            if not mapping:
                continue  # the zero page, special mappings
            holder = Holder(space.pid, space.comm, space.mm.value_(), entry.addr, entry.level,
                            entry.raw, "present", entry.pfn)
            problem = _identity(prog, Object(prog, "struct page *", head.value_()), anon,
                                mapping, index, holder, entry.vma)
            checked += 1
            anon_in_file += bool(anon and entry.vma.file)
            if problem:
                problems.append((space.pid, hex(entry.addr), entry.vma.file, problem))
    # (Over 4 MiB of memory: 1000 pages of 4 KiB, fewer larger ones.)
    assert checked > 1000 >> (prog["PAGE_SHIFT"].value_() - 12) and anon_in_file >= 8
    assert problems == []
