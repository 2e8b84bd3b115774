# SPDX-License-Identifier: LGPL-2.1-or-later
"""
userfaultfd read-write protection (VM_UFFD_RWP, Linux 7.x) on a real 7.3
dump: in an RWP VMA the one uffd bit (_PAGE_UFFD, pte_swp_uffd()) means
RWP-armed, not uffd-wp, and a PROT_NONE entry is RWP only with that bit
(userfaultfd_pte_rwp()); without it, it is a NUMA-balancing hint. The
guest armed some pages of an RWP region with UFFDIO_RWPROTECT while NUMA
balancing made hints in the others, and armed swapped-out pages;
/proc/self/pagemap's bit 57 (uffd-wp or RWP) is the oracle for the bit.
"""

import json

from conftest import load
from drgn_softleaf import Kind, for_each_leaf_entry
from drgn_softleaf.cli import main
from pagemap_oracle import PM_PRESENT, PM_SWAP, PM_UFFD_WP

NAME = "linux-7.3-l5-rwp"


def _entries(prog, manifest):
    out = {}
    for region in manifest["regions"]:
        for e in for_each_leaf_entry(prog, pid=manifest["pid"], start=region["start"],
                                     end=region["end"]):
            out[e.addr] = e
    return out


def test_uffd_bit_is_rwp_and_protnone_reasons_follow_it():
    prog, manifest = load(NAME)
    entries = _entries(prog, manifest)
    armed = hints = swapped = 0
    for page in manifest["pages"]:
        e = entries[page["addr"]]
        pm = page["pagemap"]
        uffd = bool(pm & PM_UFFD_WP)
        where = f"{page['region']} {page['addr']:#x} pm {pm:#x} raw {e.raw:#x}"
        assert "uffd_wp" not in e.flags, where
        assert ("uffd_rwp" in e.flags) == uffd, where
        if pm & PM_PRESENT:
            assert e.kind == Kind.PRESENT, where
            if uffd:
                assert e.protnone and e.protnone_reason == "uffd_rwp", where
                armed += 1
            elif e.protnone:
                assert e.protnone_reason == "numa_hint", where
                hints += 1
        else:
            assert pm & PM_SWAP and e.kind == Kind.SWAP and uffd, where
            swapped += 1
    # Every path happened: armed PROT_NONE entries, NUMA hints in the same
    # RWP VMA, armed swap entries.
    assert armed >= 12 and hints >= 1 and swapped == 4


def test_json_lines_give_the_same_reasons(capsys):
    """The bulk JSON Lines path names flags and reasons per entry as the
    scalar classification does."""
    from drgn_softleaf.demo import unpack

    prog, manifest = load(NAME)
    entries = _entries(prog, manifest)
    fx = unpack(NAME)
    assert main(["-c", str(fx.vmcore), "-s", str(fx.vmlinux), "entries", "-p",
                 str(manifest["pid"]), "--format", "jsonl"]) == 0
    rows = {r["addr"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    for addr, e in entries.items():
        row = rows[addr]
        assert row["flags"] == list(e.flags)
        assert row.get("protnone_reason") == e.protnone_reason
