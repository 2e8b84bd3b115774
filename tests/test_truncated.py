# SPDX-License-Identifier: LGPL-2.1-or-later
"""A truncated dump (a real fixture cut short, as a dump copied halfway or
filtered would be): page tables that cannot be read become marked
unreadable ranges, the walk goes on, the result says it is incomplete (exit
status 3) and nothing unreadable is reported as a finding."""

import json
import os
import struct

import pytest

from conftest import load
from drgn_softleaf.cli import main
from drgn_softleaf.demo import unpack

NAME = "linux-7.3-l5-quiescent"


def _file_offset(path, phys):
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from("<IIQQQQ", ph,
                                                                       i * phentsize)
        if p_type == 1 and p_paddr <= phys < p_paddr + p_filesz:
            return p_offset + phys - p_paddr
    raise AssertionError(f"{phys:#x} not in the dump")


@pytest.fixture(scope="module")
def truncated(tmp_path_factory):
    from drgn_softleaf import address_space
    from drgn_softleaf.scan import walk_address_space
    from drgn_softleaf.walk import PteSlots

    prog, manifest = load(NAME)
    _, walk = walk_address_space(address_space(prog, pid=manifest["pid"]))
    tables = sorted({item.table for item in walk if isinstance(item, PteSlots)})
    assert len(tables) > 2
    # Cut the dump at the third-highest PTE table of the scenario process.
    fx = unpack(NAME)
    cut = _file_offset(fx.vmcore, tables[-3])
    path = tmp_path_factory.mktemp("truncated") / "vmcore"
    with open(fx.vmcore, "rb") as src, open(path, "wb") as dst:
        left = cut
        while left:
            n = os.copy_file_range(src.fileno(), dst.fileno(), left)
            assert n
            left -= n
    return str(path), str(fx.vmlinux), manifest


def test_entries_mark_unreadable_ranges(truncated, capsys):
    core, vmlinux, manifest = truncated
    status = main(["-c", core, "-s", vmlinux, "entries", "-p", str(manifest["pid"]),
                   "--all", "--format", "jsonl"])
    out, err = capsys.readouterr()
    assert status == 3, err
    rows = [json.loads(line) for line in out.splitlines()]
    unreadable = [r for r in rows if r["kind"] == "unreadable"]
    assert len(unreadable) >= 3
    assert all(r["size"] > 0 and "read" in r["note"] for r in unreadable)
    # The walk went on: the readable part is still listed.
    assert sum(r["kind"] == "present" for r in rows) > 100


def test_summary_and_leaks_are_incomplete_not_findings(truncated, capsys):
    core, vmlinux, _ = truncated
    assert main(["-c", core, "-s", vmlinux, "summary"]) == 3
    out, err = capsys.readouterr()
    # Announced up front, and said again with what could not be read.
    assert err.startswith(f"drgn-softleaf: warning: {core} is truncated: ")
    assert "MiB of memory are missing" in err and len(err.splitlines()) == 1
    assert "INCOMPLETE: could not read" in out and "page-table ranges" in out
    status = main(["-c", core, "-s", vmlinux, "leaks", "--format", "json"])
    out, err = capsys.readouterr()
    assert status == 3, err
    doc = json.loads(out)
    assert doc["summary"]["incomplete"] is True
    assert doc["summary"]["findings"] == 0 and doc["anomalies"] == []
    assert "Traceback" not in err
