# SPDX-License-Identifier: LGPL-2.1-or-later
"""
The kernel's own view as the oracle: compare the leaf entries drgn-softleaf
found for the pages a fixture guest recorded with what /proc/self/pagemap
said for each (kind, swap type and offset or pfn, flags), and with the
raw-value facts pagemap cannot express (the guest's ``expect`` record).
Used on vmcores (tests/test_entries.py) and on live kernels
(tests/test_live.py, where the entries come as JSON Lines rows).
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from drgn_softleaf.classify import Kind

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
    "6.1": {22: "hwpoison", 23: "migration_read", 24: "migration_read_exclusive",
            25: "migration_write", 26: "device_private_write",
            27: "device_private_read", 28: "device_exclusive",
            29: "device_exclusive", 30: "marker", 31: "swapin_error"},
    "5.10": {27: "hwpoison", 28: "migration_read", 29: "migration_write",
             30: "device_private_write", 31: "device_private_read"},
}
# arm64 kernels built from the same sources and options: the same table,
# except that arm64 6.1 has no PTE markers (CONFIG_PTE_MARKER came with
# PTE_MARKER_UFFD_WP, which needs HAVE_ARCH_USERFAULTFD_WP: arm64 from v6.10).
HEADER_TYPES["7.3-arm64"] = HEADER_TYPES["7.3-arm64-64k"] = HEADER_TYPES["7.3"]
HEADER_TYPES["6.1-arm64"] = {
    23: "hwpoison", 24: "migration_read", 25: "migration_read_exclusive",
    26: "migration_write", 27: "device_private_write", 28: "device_private_read",
    29: "device_exclusive", 30: "device_exclusive", 31: "swapin_error"}
MARKER_BITS = {1: "uffd_wp", 2: "poison", 4: "guard"}
# Kernels whose pagemap does not report uffd-wp (PM_UFFD_WP came with
# commit fb8e37f35a2f ("mm/pagemap: export uffd-wp protection information")
# in v5.13): there, the guest's own record of what it protected is the
# oracle.
NO_PM_UFFD_WP = {"5.10"}


def page_shift(manifest: Dict[str, Any]) -> int:
    """The guest's PAGE_SHIFT (the meta record's page size; the first
    fixtures, all 4 KiB, did not record it)."""
    return int(manifest.get("page_size", 4096)).bit_length() - 1


def oracle_kind(kernel, pm):
    if pm & PM_PRESENT:
        return "present"
    if not pm & PM_SWAP:
        return "none"
    return HEADER_TYPES[kernel].get(pm & 31, "swap")


def pagemap_mismatches(manifest: Dict[str, Any], by_page: Dict[int, Any],
                       ops: Any = None) -> Tuple[List[str], int]:
    """
    Compare every page of *manifest* with the entry that maps it
    (*by_page*: page address -> a :class:`LeafEntry` or :class:`RowEntry`).
    Returns the mismatches and how many pages were checked. *ops* (the
    target's leafops) also checks the raw type number, where there is a
    program to decode with.
    """
    kernel = manifest["kernel"]
    shift = page_shift(manifest)
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
            pfn = entry.pfn + ((addr - entry.addr) >> shift)
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
            if ("uffd_wp" in entry.flags) != bool(pm & PM_UFFD_WP) and \
                    kernel not in NO_PM_UFFD_WP:
                mismatches.append(f"{where}: present uffd_wp {entry.flags}")
            continue
        # Non-present: the type number and offset (or pfn) pagemap shows.
        if ops is not None:
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
        elif entry.pfn + ((addr - entry.addr) >> shift) != frame >> 5:
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
        if uffd != bool(pm & PM_UFFD_WP) and kernel not in NO_PM_UFFD_WP:
            mismatches.append(f"{where}: uffd_wp {entry.flags} {entry.marker}")
        if "swp_exclusive" in expect and ("exclusive" in entry.flags) != expect["swp_exclusive"]:
            mismatches.append(f"{where}: exclusive {entry.flags}, guest {expect['swp_exclusive']}")
        if "soft_dirty" in expect and ("soft_dirty" in entry.flags) != expect["soft_dirty"]:
            mismatches.append(f"{where}: soft_dirty {entry.flags}, guest {expect['soft_dirty']}")
        if "uffd_wp" in expect and uffd != expect["uffd_wp"]:
            mismatches.append(f"{where}: uffd_wp {entry.flags}, guest {expect['uffd_wp']}")
    return mismatches, checked


@dataclass(frozen=True)
class RowEntry:
    """A leaf entry rebuilt from one JSON Lines row of ``entries --format
    jsonl`` (what a live run sends back)."""

    addr: int
    size: int
    level: str
    raw: int
    kind: Kind
    pfn: Optional[int]
    protnone: bool
    flags: Tuple[str, ...]
    marker: Tuple[str, ...]
    swap_type: Optional[int]
    swap_offset: Optional[int]

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "RowEntry":
        return cls(row["addr"], row["size"], row["level"], row["raw"], Kind(row["kind"]),
                   row.get("pfn"), bool(row.get("protnone")), tuple(row.get("flags", ())),
                   tuple(row.get("marker", ())), row.get("swap_type"), row.get("swap_offset"))


def rows_by_page(rows: List[Dict[str, Any]], page_size: int = 4096) -> Dict[int, RowEntry]:
    """Page address -> the entry (from JSON rows) that maps it."""
    out = {}
    for row in rows:
        entry = RowEntry.from_row(row)
        for off in range(0, entry.size, page_size):
            out[entry.addr + off] = entry
    return out
