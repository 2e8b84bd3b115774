# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn-softleaf against the kernel's own view: on every quiescent fixture, for
every page the guest recorded, the entry drgn-softleaf finds by walking the
dump agrees with /proc/self/pagemap (kind, swap type and offset or pfn,
flags), and with the raw-value facts pagemap cannot express.
"""

import pytest

from conftest import EXPECTED_FIXTURES, fixtures_of_mode, load
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


@pytest.mark.parametrize("name", EXPECTED_FIXTURES)
def test_direct_maple_tree_read_equals_drgn(name):
    """The VMAs read straight from the maple tree's nodes are drgn's
    for_each_vma(), in the same order, for every address space."""
    from drgn.helpers.linux.mm import for_each_vma

    from drgn_softleaf.scan import for_each_address_space
    from drgn_softleaf.walk import mm_vma_addresses

    prog, _ = load(name)
    spaces = list(for_each_address_space(prog))
    assert spaces
    total = 0
    for space in spaces:
        want = [vma.value_() for vma in for_each_vma(space.mm)]
        assert mm_vma_addresses(space.mm) == want, space.pid
        total += len(want)
    assert total > len(spaces)


@pytest.mark.parametrize("name", EXPECTED_FIXTURES)
def test_memory_map_sections_equal_drgn(name):
    """The section table read a root at a time gives drgn's valid_section()
    for every present section."""
    import numpy as np
    from drgn.helpers.linux.mmzone import for_each_present_section, valid_section

    from drgn_softleaf.checks import get_memory_map

    prog, _ = load(name)
    memmap = get_memory_map(prog)
    want = [nr for nr, ms in for_each_present_section(prog) if valid_section(ms)]
    assert want and np.flatnonzero(memmap.valid_sections).tolist() == want
    assert memmap.highest_memmap_pfn >> memmap.section_shift == want[-1]


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.12-l5-quiescent",
                                  "linux-7.3-l5-migrate", "linux-7.3-arm64-l5-migrate",
                                  "linux-7.3-arm64-64k-l3-quiescent"])
def test_select_pte_group_equals_batch_classification(name):
    """What triage picks out of PTE groups is exactly the entries the full
    batch classification calls neither present nor marker, at the same
    addresses; the rest is counted."""
    from drgn_softleaf.classify import (
        Kind,
        batch_items,
        classify_pte_batch,
        select_pte_group,
    )
    from drgn_softleaf.scan import address_space, walk_address_space

    prog, manifest = load(name)
    target = get_target(prog)
    _, walk = walk_address_space(address_space(prog, pid=manifest["pid"]))
    picked = 0
    for item in batch_items(walk):
        if not isinstance(item, list):
            continue
        batch = classify_pte_batch(target, item)
        kinds = list(Kind)
        quiet_codes = {kinds.index(Kind.PRESENT), kinds.index(Kind.MARKER)}
        want = [(a, r) for a, r, c in zip(batch.addrs.tolist(), batch.raws.tolist(),
                                          batch.codes.tolist()) if c not in quiet_codes]
        quiet, got = select_pte_group(target, item, (Kind.PRESENT, Kind.MARKER))
        assert got == want
        assert quiet + len(got) == len(batch.raws)
        picked += len(got)
    assert picked > 10


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
