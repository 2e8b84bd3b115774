# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Self-check of the fixtures (they validate the corpus, not the package): drgn
opens each dump with its vmlinux, the scenario task is there, and every
manifest page's pagemap value agrees with the raw page-table entry read
from the dump by the small decoder below, which shares no code with
drgn_softleaf.
"""

import pytest
from drgn.helpers.linux.mm import virt_to_phys
from drgn.helpers.linux.pid import find_task

from conftest import EXPECTED_FIXTURES, fixtures_of_mode, load, manifests
from pagemap_oracle import PM_PFRAME, PM_PRESENT, PM_SWAP

U64 = (1 << 64) - 1
PFN_MASK = 0x000FFFFFFFFFF000


def vmcoreinfo(prog):
    return dict(line.split("=", 1) for line in prog["VMCOREINFO"].string_().decode().splitlines()
                if "=" in line)


class Arm64Walk:
    """An independent arm64 walk and pagemap decoder (any granule; LPA2 and
    FEAT_LPA addresses; the v6.10+ and v5.19-v6.9 swap PTE layouts), from
    arch/arm64/include/asm/pgtable*.h."""

    def __init__(self, prog):
        info = vmcoreinfo(prog)
        self.page_shift = int(info["PAGESIZE"]).bit_length() - 1
        bits = self.page_shift - 3
        va = 64 - int(info["NUMBER(TCR_EL1_T1SZ)"], 0)
        build_va = int(info["NUMBER(VA_BITS)"])
        self.levels = (va - 4) // bits
        self.shifts = [self.page_shift + bits * i for i in reversed(range(self.levels))]
        folded = self.levels < (build_va - 4) // bits
        self.counts = [1 << bits if folded else 1 << (build_va - self.shifts[0])] + \
            [1 << bits] * (self.levels - 1)
        # 64K: PA[51:48] in bits 15:12 with 52-bit PAs; 4K and 16K: PA[51:50]
        # in bits 9:8 with LPA2, which is on exactly with a 52-bit VA.
        if self.page_shift == 16:
            pa52 = int(info["NUMBER(MAX_PHYSMEM_BITS)"]) == 52
            self.high = (0xF << 12, 36) if pa52 else (0, 0)
        else:
            self.high = (0x3 << 8, 42) if va == 52 else (0, 0)
        # PAGE_NONE (protection_map[VM_NONE]) has bit 58 before v6.10.
        self.v610 = not prog["protection_map"][0].pgprot.value_() >> 58 & 1

    def phys(self, value):
        p = value & ((1 << 50) - 1) & ~((1 << self.page_shift) - 1)
        return p | (value & self.high[0]) << self.high[1]

    def raw_leaf(self, prog, pgd_phys, addr):
        table = pgd_phys
        for shift, count in zip(self.shifts, self.counts):
            value = prog.read_u64(table + 8 * ((addr >> shift) & (count - 1)), True)
            if shift == self.page_shift or value & 3 != 3:
                return shift, value
            table = self.phys(value)
        raise AssertionError("unreachable")

    def pagemap_frame(self, shift, value, addr):
        ps = self.page_shift
        if value == 0:
            return 0, 0
        present = value & 1 or (value & (1 << 11) if self.v610 else value & (3 << 58))
        if present:
            pfn = (self.phys(value) & ~((1 << shift) - 1)) >> ps
            return PM_PRESENT, pfn + ((addr >> ps) & ((1 << (shift - ps)) - 1))
        if self.v610:
            type_, offset = (value >> 6) & 31, (value >> 12) & ((1 << 50) - 1)
        else:
            type_, offset = (value >> 3) & 31, (value >> 8) & ((1 << 50) - 1)
        if shift > ps:
            offset += (addr >> ps) & ((1 << (shift - ps)) - 1)
        return PM_SWAP, type_, offset


def raw_leaf(prog, pgd_phys, addr, levels):
    """(level shift, value) of the leaf entry that maps addr: an
    independent x86-64 walk."""
    table = pgd_phys
    for shift in [48, 39, 30, 21, 12][5 - levels:]:
        value = prog.read_u64(table + 8 * ((addr >> shift) & 511), True)
        if shift == 12 or not value & 1 or value & 0x80:
            return shift, value
        table = value & PFN_MASK
    raise AssertionError("unreachable")


def pagemap_frame(shift, value, addr):
    """What pagemap reports for a leaf (present: pfn; otherwise
    PM_SWAP with type | offset << 5), from fs/proc/task_mmu.c."""
    if value & ~0x60 == 0:
        return 0, 0
    if value & 0x101 or (shift > 12 and value & 0x80):
        inv = U64 if not value & 1 else 0
        pfn = ((value ^ inv) & PFN_MASK & ~((1 << shift) - 1)) >> 12
        return PM_PRESENT, pfn + ((addr >> 12) & ((1 << (shift - 12)) - 1))
    type_ = value >> 59
    offset = ((~value << 5) & U64) >> 14
    if shift > 12:
        # Only pfn entries (migration, device-private) exist at PMD level;
        # pagemap reports the pfn of each 4 KiB page.
        offset += (addr >> 12) & ((1 << (shift - 12)) - 1)
    return PM_SWAP, type_, offset


def test_every_fixture_is_present():
    missing = [n for n in EXPECTED_FIXTURES if n not in manifests()]
    assert not missing, f"missing fixtures: {missing}"


@pytest.mark.parametrize("name", sorted(manifests()) or ["<none>"])
def test_fixture_opens(name):
    prog, manifest = load(name)
    assert prog["UTS_RELEASE"].string_().decode() == manifest["kernel_release"]
    task = find_task(prog, manifest["pid"])
    assert task, f"scenario PID {manifest['pid']} not in the dump"
    assert task.comm.string_().decode() == manifest["comm"]
    if manifest["arch"] == "aarch64":
        assert Arm64Walk(prog).levels == manifest["paging_levels"]
    else:
        l5 = vmcoreinfo(prog).get("NUMBER(pgtable_l5_enabled)") == "1"
        assert (5 if l5 else 4) == manifest["paging_levels"]
    assert manifest["pages"], "manifest records no pages"


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent", "perf"))
def test_pagemap_agrees_with_raw_entries(name):
    prog, manifest = load(name)
    task = find_task(prog, manifest["pid"])
    pgd = virt_to_phys(prog, task.mm.pgd.value_()).value_()
    levels = manifest["paging_levels"]
    arm64 = Arm64Walk(prog) if manifest["arch"] == "aarch64" else None
    checked = 0
    for page in manifest["pages"]:
        pm = page["pagemap"]
        if arm64:
            shift, value = arm64.raw_leaf(prog, pgd, page["addr"])
            got = arm64.pagemap_frame(shift, value, page["addr"])
        else:
            shift, value = raw_leaf(prog, pgd, page["addr"], levels)
            got = pagemap_frame(shift, value, page["addr"])
        where = f"{page['region']} {page['addr']:#x} raw {value:#x} pagemap {pm:#x}"
        if not pm & (PM_PRESENT | PM_SWAP):
            assert got == (0, 0), where
        elif pm & PM_PRESENT:
            assert got == (PM_PRESENT, pm & PM_PFRAME), where
        else:
            # Non-present hugetlb entries have no PM_SWAP frame.
            assert got[0] == PM_SWAP, where
            frame = pm & PM_PFRAME
            type_, offset = got[1], got[2]
            assert frame & 31 == type_, where
            # pfn entries report only the pfn (SWP_PFN_BITS: MAX_PHYSMEM_BITS
            # 52 or 46, less PAGE_SHIFT); swap offsets and marker bits are
            # far below that.
            info = vmcoreinfo(prog)
            pfn_bits = int(info["NUMBER(MAX_PHYSMEM_BITS)"]) - \
                (int(info["PAGESIZE"]).bit_length() - 1)
            assert frame >> 5 == offset & ((1 << pfn_bits) - 1), where
        checked += 1
    assert checked == len(manifest["pages"])
