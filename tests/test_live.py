# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn-softleaf on a live kernel (/proc/kcore), in a real guest: the 7.3
fixture kernel booted in QEMU by contrib/live/harness.py, with this Python
environment inside it (see the harness). One boot runs every check; these
tests assert what the guest reported:

- quiescent: every page the scenario recorded agrees with its pagemap,
  read live, from the console script and from ``%softleaf`` in a drgn
  session (the same rows);
- churn: while the scenario migrates pages between the two NUMA nodes,
  ``leaks`` finds nothing, every round (at least 10), although it meets
  migration entries; what it read mid-migration is refuted by re-reading;
- leak: a migration entry planted live (through the gdbstub) for an
  unlocked page is found, confirmed by every re-read, exit status 1;
- errors: without debug info, and as a user who cannot read /proc/kcore,
  one line and exit status 2.

The guest takes several minutes under TCG: the run is shared by the tests
of this module (and .ci/run runs this module once, not under every Python).
"""

import json
import re
import sys
from typing import Any, Dict, List

import pytest

from conftest import REPO
from pagemap_oracle import pagemap_mismatches, rows_by_page

sys.path.insert(0, str(REPO / "contrib" / "live"))

import harness  # noqa: E402

pytestmark = pytest.mark.live

# Churn: at least 10 leaks scans, and as many more as fit in CHURN_SECONDS
# (a scan takes 0.5 to 3 s in the guest under TCG).
ROUNDS = 10
CHURN_SECONDS = 120


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Dict[str, List[Dict[str, Any]]]:
    work = tmp_path_factory.mktemp("live")
    try:
        records = harness.run_live(work, rounds=ROUNDS, churn_seconds=CHURN_SECONDS,
                                   max_rounds=400)
    except harness.HarnessError as e:
        pytest.fail(f"live guest: {e}")
    text = "".join(json.dumps(r) + "\n" for r in records)
    (work / "records.jsonl").write_text(text)
    # The last run's records outlive pytest's temporary directories (for
    # the figures a closing note quotes, and for diagnosis).
    from drgn_softleaf.demo import _cache_dir

    _cache_dir().mkdir(parents=True, exist_ok=True)
    (_cache_dir() / "live-records.jsonl").write_text(text)
    by: Dict[str, List[Dict[str, Any]]] = {}
    for r in records:
        by.setdefault(r["rec"], []).append(r)
    failed = by.get("failed")
    assert not failed, f"the guest's driver failed: {failed[0]['traceback']}\n" \
        f"(console: {work / 'console.log'})"
    assert "done" in by, f"the guest did not finish; console: {work / 'console.log'}"
    return by


def _rows(blob: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in harness.unblob(blob).decode().splitlines()]


def _manifest(live) -> Dict[str, Any]:
    records = json.loads(harness.unblob(live["quiescent_records"][0]["records_gz"]))
    meta = next(r for r in records if r["rec"] == "meta")
    return {"kernel": harness.KERNEL, "mode": "quiescent", "pid": meta["pid"],
            "pages": [{k: v for k, v in r.items() if k != "rec"}
                      for r in records if r["rec"] == "page"]}


def test_quiescent_pages_agree_with_pagemap_read_live(live):
    manifest = _manifest(live)
    cli = live["quiescent_cli"][0]["entries"]
    assert cli["status"] == 0, cli["stderr"]
    rows = _rows(cli["stdout_gz"])
    assert rows and all(r["pid"] == manifest["pid"] for r in rows)
    mismatches, checked = pagemap_mismatches(manifest, rows_by_page(rows))
    assert not mismatches, f"{len(mismatches)} of {len(manifest['pages'])}:\n" + \
        "\n".join(mismatches[:40])
    assert checked == len(manifest["pages"]) > 1000


def test_drgn_session_softleaf_gives_the_same_rows(live):
    cli_rows = _rows(live["quiescent_cli"][0]["entries"]["stdout_gz"])
    session = live["quiescent_session"][0]
    assert session["error"] is None and session["status"] == 0
    assert _rows(session["stdout_gz"]) == cli_rows


def test_quiescent_leaks_finds_nothing(live):
    leaks = live["quiescent_cli"][0]["leaks"]
    report = json.loads(harness.unblob(leaks["stdout_gz"]))
    assert leaks["status"] == 0, report["summary"]
    assert report["summary"]["findings"] == 0 and report["summary"]["live"]
    # Its own process is left out, and said so.
    assert [x["why"] for x in report["left_out"]] and all(
        "own process" in x["why"] or "exited" in x["why"] for x in report["left_out"])


def test_churn_gives_no_finding(live):
    rounds = live["churn"]
    assert len(rounds) >= ROUNDS
    seen = 0
    for r in rounds:
        assert r["error"] is None, r["error"]
        summary = r["report"]["summary"]
        assert r["status"] == 0 and summary["findings"] == 0, \
            f"round {r['round']}: {json.dumps(r['report'], indent=1)[:4000]}"
        seen += summary["folios"] + summary["transient"]
    # The scans did meet migrations: migration entries (in flight, or
    # unknown with the migrator's stack not unwindable) or findings that
    # re-reading refuted.
    assert seen > 0, "no scan met a migration entry: the churn test proves nothing"
    assert live["churn_done"][0]["pgmigrate_success"] > 1000


def test_planted_leak_is_found_and_persists(live):
    planted = live["planted"][0]
    got = live["leak_session"][0]
    assert got["error"] is None
    report = got["report"]
    assert got["status"] == 1, report["summary"]
    leaked = [f for f in report["folios"] if f["verdict"] == "leaked"]
    assert [f["pfn"] for f in leaked] == [planted["pfn"]], report["folios"]
    assert [h["raw"] for h in leaked[0]["holders"]] == [planted["planted"]]
    conf = leaked[0]["confirmation"]
    assert conf["persisted"] and conf["reads"] == report["summary"]["confirmations"] + 1
    assert report["summary"]["findings"] == 1
    cli = live["leak_cli"][0]["leaks"]
    assert cli["status"] == 1
    text = harness.unblob(cli["stdout_gz"]).decode()
    assert "LEAKED: folio" in text and f"pfn {planted['pfn']:#x}" in text


def test_errors_are_one_line_and_status_2(live):
    errors = live["errors"][0]
    nodebug, notroot = errors["no_debug_info"], errors["not_root"]
    assert nodebug["status"] == 2 and len(nodebug["stderr"].splitlines()) == 1
    assert "-s VMLINUX" in nodebug["stderr"]
    assert notroot["status"] == 2 and len(notroot["stderr"].splitlines()) == 1
    assert "permission denied" in notroot["stderr"] and "root" in notroot["stderr"]
    assert not harness.unblob(nodebug["stdout_gz"]) and not harness.unblob(notroot["stdout_gz"])


def test_kernel_image_is_the_fixture_kernel():
    """The committed kernel image is the build the fixture vmlinux comes
    from: the version string in its setup header (arch/x86/boot/header.S,
    ``kernel_version``) is the vmlinux's ``linux_banner``, timestamp
    included (the guest's drgn would refuse a mismatched vmlinux too; this
    names the cause)."""
    from drgn_softleaf.demo import unpack

    image = harness.KERNEL_IMAGE.read_bytes()
    assert len(image) < 25 << 20
    assert image[0x202:0x206] == b"HdrS"
    offset = int.from_bytes(image[0x20E:0x210], "little") + 0x200
    version = image[offset:image.index(b"\0", offset)]
    # "RELEASE (USER@HOST) UTS_VERSION"; the banner has the compiler between.
    release, _, uts_version = version.partition(b") ")
    assert release.startswith(b"7.3.") and uts_version.startswith(b"#1 SMP")
    vmlinux = unpack(harness.DEMO).vmlinux.read_bytes()
    # linux_banner (init/version-timestamp.c); init/version.c's temporary
    # banner, with a blank build number and timestamp, comes first.
    banners = re.findall(rb"Linux version " + re.escape(release) + rb"\) \([^\n]*\n", vmlinux)
    assert any(b.endswith(b" " + uts_version + b"\n") for b in banners), (banners, version)
