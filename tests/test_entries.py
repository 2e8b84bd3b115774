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

PM_PFRAME = (1 << 55) - 1
PM_SOFT_DIRTY = 1 << 55
PM_UFFD_WP = 1 << 57
PM_GUARD_REGION = 1 << 58
PM_SWAP = 1 << 62
PM_PRESENT = 1 << 63

# The kind of each special swap type number, from include/linux/swap.h of
# each fixture kernel (MEMORY_FAILURE, MIGRATION, DEVICE_PRIVATE, markers):
# this is the oracle's key, independent of drgn_softleaf's own table.
HEADER_TYPES = {
    "7.3": {24: "hwpoison", 25: "migration_read", 26: "migration_read_exclusive",
            27: "migration_write", 28: "device_private_write",
            29: "device_private_read", 30: "device_exclusive", 31: "marker"},
    "6.12": {23: "hwpoison", 24: "migration_read", 25: "migration_read_exclusive",
             26: "migration_write", 27: "device_private_write",
             28: "device_private_read", 29: "device_exclusive",
             30: "device_exclusive", 31: "marker"},
}
MARKER_BITS = {1: "uffd_wp", 2: "poison", 4: "guard"}


def entries_by_page(prog, pid, pages):
    """Map every 4 KiB page address of the manifest's regions to the leaf
    entry that maps it (scanning only the recorded regions' ranges)."""
    ranges = {}
    for p in pages:
        key = (p["region"], p["addr"] >> 30)
        lo, hi = ranges.get(key, (p["addr"], p["addr"]))
        ranges[key] = (min(lo, p["addr"]), max(hi, p["addr"]))
    out = {}
    for lo, hi in ranges.values():
        # A PMD or PUD leaf over lo is found whole, at its aligned address.
        for entry in for_each_leaf_entry(prog, pid=pid, start=lo, end=hi + 4096):
            for off in range(0, entry.size, 4096):
                out[entry.addr + off] = entry
    return out


def oracle_kind(kernel, pm):
    if pm & PM_PRESENT:
        return "present"
    if not pm & PM_SWAP:
        return "none"
    return HEADER_TYPES[kernel].get(pm & 31, "swap")


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent", "perf"))
def test_every_manifest_page_agrees_with_pagemap(name):
    prog, manifest = load(name)
    kernel = manifest["kernel"]
    by_page = entries_by_page(prog, manifest["pid"], manifest["pages"])
    target = get_target(prog)
    clear_refs = manifest["mode"] == "quiescent"
    mismatches = []
    checked = 0
    for page in manifest["pages"]:
        addr, pm = page["addr"], page["pagemap"]
        expect = page.get("expect") or {}
        entry = by_page.get(addr)
        got_kind = entry.kind.value if entry else "none"
        where = f"{page['region']} {addr:#x} pagemap {pm:#x} raw {entry.raw if entry else 0:#x}"
        want = oracle_kind(kernel, pm)
        # Non-present hugetlb entries have no PM_SWAP frame in pagemap: the
        # guest's record of what it made stands in.
        if expect.get("hugetlb") and not pm & (PM_PRESENT | PM_SWAP):
            want = page["kind"]
        if got_kind != want:
            mismatches.append(f"{where}: kind {got_kind}, pagemap says {want}")
            continue
        if want != page["kind"] and not expect.get("intent_missed"):
            mismatches.append(f"{where}: guest meant {page['kind']}, pagemap says {want}")
        checked += 1
        if entry is None:
            continue
        frame = pm & PM_PFRAME
        if entry.kind == Kind.PRESENT:
            pfn = entry.pfn + ((addr - entry.addr) >> 12)
            if pfn != frame:
                mismatches.append(f"{where}: pfn {pfn:#x}, pagemap {frame:#x}")
            if bool(expect.get("protnone")) != entry.protnone:
                mismatches.append(f"{where}: protnone {entry.protnone}")
            if "level" in expect and expect["level"] != entry.level:
                mismatches.append(f"{where}: level {entry.level}, expected {expect['level']}")
            # A present entry's soft-dirty and uffd-wp bits, as pagemap
            # reports them (pte_soft_dirty(), pte_uffd_wp()).
            if clear_refs and ("soft_dirty" in entry.flags) != bool(pm & PM_SOFT_DIRTY):
                mismatches.append(f"{where}: present soft_dirty {entry.flags}")
            if ("uffd_wp" in entry.flags) != bool(pm & PM_UFFD_WP):
                mismatches.append(f"{where}: present uffd_wp {entry.flags}")
            continue
        # Non-present: the type number and offset (or pfn) pagemap shows.
        ops = target.leafops
        softleaf = ops.softleaf_from_pte(entry.raw)
        if ops.swp_type(softleaf) != frame & 31:
            mismatches.append(f"{where}: type {ops.swp_type(softleaf)}, pagemap {frame & 31}")
        if entry.kind == Kind.SWAP:
            if (entry.swap_type, entry.swap_offset) != (frame & 31, frame >> 5):
                mismatches.append(f"{where}: swap {entry.swap_type}:{entry.swap_offset:#x}")
        elif entry.kind == Kind.MARKER:
            want_marker = tuple(n for b, n in MARKER_BITS.items() if (frame >> 5) & b)
            if entry.marker != want_marker:
                mismatches.append(f"{where}: marker {entry.marker}, pagemap {want_marker}")
            if "marker" in expect and entry.marker != (expect["marker"],):
                mismatches.append(f"{where}: marker {entry.marker}, guest {expect['marker']}")
            if ("guard" in entry.marker) != bool(pm & PM_GUARD_REGION) and kernel != "6.12":
                mismatches.append(f"{where}: guard vs PM_GUARD_REGION")
        elif entry.pfn + ((addr - entry.addr) >> 12) != frame >> 5:
            # (a PMD entry's pfn is its first page's; pagemap reports each)
            mismatches.append(f"{where}: pfn {entry.pfn:#x}, pagemap {frame >> 5:#x}")
        # Swap-PTE flags: pagemap's soft-dirty bit is the PTE's (clear_refs
        # cleared VM_SOFTDIRTY); its uffd-wp bit is also set for uffd-wp
        # markers; the exclusive bit is not in pagemap (the guest's record).
        # (Only the quiescent guests write clear_refs before recording; in the
        # perf guest, pagemap's bit 55 is VM_SOFTDIRTY of the new VMAs.)
        if clear_refs and ("soft_dirty" in entry.flags) != bool(pm & PM_SOFT_DIRTY):
            mismatches.append(f"{where}: soft_dirty {entry.flags}")
        uffd = ("uffd_wp" in entry.flags) or ("uffd_wp" in entry.marker)
        if uffd != bool(pm & PM_UFFD_WP):
            mismatches.append(f"{where}: uffd_wp {entry.flags} {entry.marker}")
        if "swp_exclusive" in expect and ("exclusive" in entry.flags) != expect["swp_exclusive"]:
            mismatches.append(f"{where}: exclusive {entry.flags}, guest {expect['swp_exclusive']}")
        if "soft_dirty" in expect and ("soft_dirty" in entry.flags) != expect["soft_dirty"]:
            mismatches.append(f"{where}: soft_dirty {entry.flags}, guest {expect['soft_dirty']}")
        if "uffd_wp" in expect and uffd != expect["uffd_wp"]:
            mismatches.append(f"{where}: uffd_wp {entry.flags}, guest {expect['uffd_wp']}")
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
    prog, manifest = load(name)
    regions = {p["region"] for p in manifest["pages"]}
    assert {"device_exclusive", "device_exclusive_ro"} <= regions or manifest["kernel"] != "6.12"
    got = {e.writable for e in for_each_leaf_entry(prog, pid=manifest["pid"])
           if e.kind == Kind.DEVICE_EXCLUSIVE}
    if manifest["kernel"] == "6.12":
        assert got == {True, False}
    else:
        assert got == {None}


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
                                  "linux-7.3-l5-migrate"])
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
