# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.schema: the JSON documents scripts read (README: "JSON
Lines schema"), made from the records of the scan and the triage."""

import json

import pytest

from conftest import load
from test_cli import core_args, run_cli
from drgn_softleaf.target import get_target
from test_robustness import _run


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-l5-quiescent",
                                  "linux-5.10-l5-quiescent", "linux-7.3-arm64-l5-quiescent",
                                  "linux-6.1-arm64-l4-quiescent"])
def test_jsonl_contract(name, capsys):
    _, manifest = load(name)
    status, out, err = run_cli(
        core_args(name) + ["entries", "-p", str(manifest["pid"]), "--format", "jsonl"], capsys)
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows
    always = {"pid", "comm", "addr", "size", "level", "raw", "raw_hex", "kind", "vma_start",
              "vma_end", "vma_flags", "vma_file"}
    by_kind = {}
    for r in rows:
        assert always <= r.keys(), r
        assert r["kind"] != "none"
        assert r["vma_start"] <= r["addr"] < r["vma_end"]
        assert int(r["raw_hex"], 16) == r["raw"]
        by_kind.setdefault(r["kind"], r)
    assert {"pfn", "protnone"} <= by_kind["present"].keys()
    assert {"swap_type", "swap_offset", "swap_file", "flags"} <= by_kind["swap"].keys()
    assert by_kind["swap"]["swap_file"] == "/dev/zram0"
    # What each kernel's guest could make (5.10: no device-exclusive entries
    # or markers; 6.1: no uffd-wp markers on anon memory, shmem ones).
    made = {p["kind"] for p in manifest["pages"]}
    for kind in {"hwpoison", "device_private_write", "device_private_read",
                 "device_exclusive"} & made:
        assert {"pfn", "folio", "folio_order", "folio_locked", "flags"} <= by_kind[kind].keys()
    assert {"hwpoison", "device_private_write", "device_private_read"} <= made
    if "marker" in made:
        assert set(by_kind["marker"]["marker"]) <= {"uffd_wp", "poison", "guard"}
    pmd = [r for r in rows if r["level"] == "pmd"]
    pmd_size = 1 << get_target(load(name)[0]).level_shift("pmd")
    assert pmd and all(r["size"] == pmd_size and r["addr"] % pmd_size == 0 for r in pmd)


def test_jsonl_migration_fields(capsys):
    _, manifest = load("linux-7.3-l5-migrate")
    status, out, err = run_cli(
        core_args("linux-7.3-l5-migrate")
        + ["entries", "-p", str(manifest["pid"]), "--format", "jsonl",
           "--kind", "migration_write"], capsys)
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(r["kind"] == "migration_write" for r in rows)
    assert all({"mig_young", "mig_dirty", "folio", "folio_locked"} <= r.keys() for r in rows)
    assert all(r["folio_locked"] is True for r in rows)


def test_json_pointers_come_as_hex_strings():
    prog, _ = load("linux-7.3-l5-leak")
    status, out = _run(prog, ["leaks", "--format", "json"])
    assert status == 1
    doc = json.loads(out)
    folio = doc["folios"][0]
    assert int(folio["folio_hex"], 16) == folio["folio"]
    assert int(folio["mapping_hex"], 16) == folio["mapping"]
    holder = folio["holders"][0]
    assert int(holder["mm_hex"], 16) == holder["mm"]
    assert int(holder["addr_hex"], 16) == holder["addr"]


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-7.3-l5-leak"])
def test_summary_and_vmas_documents_are_the_counts(name):
    from drgn_softleaf import Kind, address_space
    from drgn_softleaf.scan import space_vma_counts, system_counts

    prog, manifest = load(name)
    doc = json.loads(_run(prog, ["summary", "--format", "json"])[1])
    rows, unreadable = system_counts(prog)
    assert [p["pid"] for p in doc["processes"]] == [s.pid for s, _, _, _ in rows]
    for p, (space, nvmas, counts, _) in zip(doc["processes"], rows):
        assert p["vmas"] == nvmas and p["mm"] == space.mm.value_()
        assert p["counts"] == {k.value: n for k, n in counts.items()}
    assert doc["unreadable"] == unreadable and doc["incomplete"] is False
    doc = json.loads(_run(prog, ["vmas", "-p", str(manifest["pid"]), "--format", "json"])[1])
    rows, _ = space_vma_counts(address_space(prog, pid=manifest["pid"]))
    assert [(v["start"], v["end"]) for v in doc["vmas"]] == [(v.start, v.end) for v, _, _ in rows]
    assert sum(v["counts"].get(Kind.PRESENT.value, 0) for v in doc["vmas"]) == sum(
        c[Kind.PRESENT] for _, c, _ in rows)


@pytest.mark.parametrize("name", ["linux-7.3-l5-leak", "linux-7.3-l5-migrate",
                                  "linux-7.3-l5-quiescent"])
def test_leaks_document_is_the_report(name):
    from drgn_softleaf.schema import leaks_json
    from drgn_softleaf.triage import scan_leaks

    prog, _ = load(name)
    report = scan_leaks(prog)
    status, out = _run(prog, ["leaks", "--format", "json"])
    doc = json.loads(out)
    assert doc == json.loads(json.dumps(leaks_json(report, status)))
    assert doc["exit_status"] == status == (1 if report.findings else 0)
    assert doc["summary"]["findings"] == report.findings
    assert [f["verdict"] for f in doc["folios"]] == [f.verdict for f in report.folios]
    assert [c["what"] for c in doc["counters"]] == [c.what for c in report.counters]
