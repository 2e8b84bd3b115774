# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn-softleaf against the kernel's own view: on every quiescent fixture, for
every page the guest recorded, the entry drgn-softleaf finds by walking the
dump agrees with /proc/self/pagemap (kind, swap type and offset or pfn,
flags), and with the raw-value facts pagemap cannot express.
"""

import pytest

from conftest import fixtures_of_mode, load
from drgn_softleaf import Kind, for_each_leaf_entry, get_target
from pagemap_oracle import pagemap_mismatches

def entries_by_page(prog, pid, pages):
    """Map every page address of the manifest's regions to the leaf entry
    that maps it (scanning only the recorded regions' ranges)."""
    page = prog["PAGE_SIZE"].value_()
    ranges = {}
    for p in pages:
        key = (p["region"], p["addr"] >> 30)
        lo, hi = ranges.get(key, (p["addr"], p["addr"]))
        ranges[key] = (min(lo, p["addr"]), max(hi, p["addr"]))
    out = {}
    for lo, hi in ranges.values():
        # A PMD or PUD leaf over lo is found whole, at its aligned address.
        for entry in for_each_leaf_entry(prog, pid=pid, start=lo, end=hi + page):
            for off in range(0, entry.size, page):
                out[entry.addr + off] = entry
    return out


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent", "perf"))
def test_every_manifest_page_agrees_with_pagemap(name):
    prog, manifest = load(name)
    by_page = entries_by_page(prog, manifest["pid"], manifest["pages"])
    mismatches, checked = pagemap_mismatches(manifest, by_page, get_target(prog).leafops)
    assert not mismatches, f"{len(mismatches)} of {len(manifest['pages'])}:\n" + "\n".join(
        mismatches[:40]
    )
    assert checked == len(manifest["pages"])


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent"))
def test_every_kind_the_guest_made_is_found(name):
    """Each kind the guest recorded appears in the scan (no kind silently
    folded into another)."""
    prog, manifest = load(name)
    want = {p["kind"] for p in manifest["pages"]} - {"none"}
    got = {e.kind.value for e in for_each_leaf_entry(prog, pid=manifest["pid"])}
    assert want <= got, f"missing kinds: {want - got}"


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent"))
def test_device_exclusive_access_split(name):
    """Before 6.15 device-exclusive entries come as a write and a read type
    (the guest made both: mprotect() turns one into the other); since 6.15
    there is one type and no `writable`."""
    from pagemap_oracle import HEADER_TYPES

    prog, manifest = load(name)
    # The oracle's key (include/linux/swap.h of the kernel): two types or one.
    types = list(HEADER_TYPES[manifest["kernel"]].values()).count("device_exclusive")
    regions = {p["region"] for p in manifest["pages"]}
    assert {"device_exclusive", "device_exclusive_ro"} <= regions or types != 2
    got = {e.writable for e in for_each_leaf_entry(prog, pid=manifest["pid"])
           if e.kind == Kind.DEVICE_EXCLUSIVE}
    # Two types (v5.14 to v6.14), one (v6.15+), none (before v5.14: the
    # guest recorded its device-exclusive regions as absent).
    assert got == {2: {True, False}, 1: {None}, 0: set()}[types]
    if not types:
        assert {"device_exclusive", "device_exclusive_ro"} <= \
            {a["what"] for a in manifest["absent"]}


@pytest.mark.parametrize("name,valid", [("linux-7.3-l5-quiescent", True),
                                        ("linux-6.12-l5-quiescent", False)])
def test_device_private_pmd_exists_only_with_device_private_thp(name, valid):
    """A device-private entry at PMD level is what 7.3 makes for a
    device-private THP (the quiescent guest made some: found at PMD level
    here), and invalid on 6.12, which has only PMD migration entries
    (probed: enum migrate_vma_direction without MIGRATE_VMA_SELECT_COMPOUND)."""
    from drgn_softleaf import classify_raw

    prog, manifest = load(name)
    ops = get_target(prog).leafops
    assert ops.device_private_pmd is valid
    raw = ops.softleaf_to_pte(ops.make_writable_device_private_entry(0x12345))
    entry = classify_raw(prog, raw, "pmd")
    if valid:
        assert entry.kind == Kind.DEVICE_PRIVATE_WRITE
        found = [e for e in for_each_leaf_entry(prog, pid=manifest["pid"])
                 if e.level == "pmd" and e.kind in (Kind.DEVICE_PRIVATE_READ,
                                                    Kind.DEVICE_PRIVATE_WRITE)]
        assert found
    else:
        assert entry.kind == Kind.INVALID and "not valid at PMD level" in entry.note
    # Migration entries are valid at PMD level on both.
    mig = ops.softleaf_to_pte(ops.make_writable_migration_entry(0x12345))
    assert classify_raw(prog, mig, "pmd").kind == Kind.MIGRATION_WRITE
