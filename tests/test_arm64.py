# SPDX-License-Identifier: LGPL-2.1-or-later
"""Unit tests of the arm64 port (arch/arm64/include/asm/pgtable.h,
pgtable-prot.h, pgtable-hwdef.h of each era) for every granule and era:
encoder round trips, the kernel's own constants, levels, and the scalar and
vector paths entry by entry. The arm64 fixtures (test_fixtures and friends)
are the evidence on real kernels; these cover the layouts no fixture has."""

import array
import random
from collections import Counter

import pytest

from drgn_softleaf.arch.arm64 import SWAP_PTE_LAYOUTS, Arm64
from drgn_softleaf.classify import Kind, classify_value, count_pte_group
from drgn_softleaf.leafops import PTE_MARKER_GUARD, PTE_MARKER_POISONED, PTE_MARKER_UFFD_WP, Leafops
from drgn_softleaf.target import Target
from drgn_softleaf.vma import Vma
from drgn_softleaf.walk import PteSlots
from test_leafops import KERNEL_TABLES

NEW = SWAP_PTE_LAYOUTS["present_invalid"]
V60 = SWAP_PTE_LAYOUTS["swp_exclusive"]
OLD = SWAP_PTE_LAYOUTS["prot_none"]

# name: (layout, the kernel table of that era)
LAYOUTS = {
    "4k-lpa2": (Arm64(12, 52, 52, 52, NEW), "7.3"),
    "4k-52-nolva": (Arm64(12, 52, 48, 48, NEW), "7.3"),
    "4k-48": (Arm64(12, 48, 48, 48, NEW), "6.12"),
    "4k-39": (Arm64(12, 39, 39, 48, NEW), "7.3"),
    "16k-lpa2": (Arm64(14, 52, 52, 52, NEW), "7.3"),
    "16k-47": (Arm64(14, 47, 47, 48, NEW), "6.12"),
    "64k-lpa": (Arm64(16, 52, 52, 52, NEW), "7.3"),
    "64k-42": (Arm64(16, 42, 42, 48, NEW), "7.3"),
    "4k-48-v6.1": (Arm64(12, 48, 48, 48, V60), "6.1"),
    "64k-lpa-v6.1": (Arm64(16, 52, 52, 52, V60), "6.1"),
    "4k-48-v5.10": (Arm64(12, 48, 48, 48, OLD), "5.10"),
    "64k-48-v5.10": (Arm64(16, 48, 48, 48, OLD), "5.10"),
}


def ops_for(name):
    layout, version = LAYOUTS[name]
    pfn_bits = layout.max_physmem_bits - layout.page_shift
    return layout, Leafops(layout, KERNEL_TABLES[version][0], pfn_bits, True)


def target_for(name):
    layout, ops = ops_for(name)
    return Target(layout, layout.levels, layout.level_shifts(layout.levels),
                  layout.table_entries(layout.levels), layout.max_physmem_bits, 0,
                  layout.physical_mask(), ops.table, ops, name, ())


@pytest.mark.parametrize("name,levels,shifts,top", [
    ("4k-lpa2", 5, (48, 39, 30, 21, 12), 16),
    # A 52-bit build at 48 bits folds the top level away at run time: the
    # top table is then a whole page (pgdir_is_page_size()).
    ("4k-52-nolva", 4, (39, 30, 21, 12), 512),
    ("4k-48", 4, (39, 30, 21, 12), 512),
    ("4k-39", 3, (30, 21, 12), 512),
    ("16k-lpa2", 4, (47, 36, 25, 14), 32),
    ("16k-47", 3, (36, 25, 14), 2048),
    ("64k-lpa", 3, (42, 29, 16), 1024),
    ("64k-42", 2, (29, 16), 8192),
    ("64k-48-v5.10", 3, (42, 29, 16), 64),
])
def test_levels(name, levels, shifts, top):
    """ARM64_HW_PGTABLE_LEVELS(), ARM64_HW_PGTABLE_LEVEL_SHIFT() and
    PTRS_PER_PGD of each configuration."""
    layout = LAYOUTS[name][0]
    assert layout.levels == levels
    got = layout.level_shifts(levels)
    assert tuple(s for _, s in got) == shifts
    assert got[-1][0] == "pte" and got[-2][0] == "pmd"
    # The top level is named for the lowest level it stands for.
    assert got[0][0] == {5: "pgd", 4: "pgd", 3: "pud", 2: "pmd"}[levels]
    entries = layout.table_entries(levels)
    assert entries[0] == top and set(entries[1:]) <= {layout.entries_per_table}
    # The tables map the whole VA size in use.
    assert shifts[0] + top.bit_length() - 1 >= layout.vabits_actual


def test_from_vmcoreinfo():
    info = {"PAGESIZE": "4096", "NUMBER(VA_BITS)": "52", "NUMBER(TCR_EL1_T1SZ)": "0x10",
            "NUMBER(MAX_PHYSMEM_BITS)": "48"}
    layout = Arm64.from_vmcoreinfo(info, NEW)
    assert (layout.page_shift, layout.va_bits, layout.vabits_actual, layout.levels) == \
        (12, 52, 48, 4)
    assert layout.user_range(4) == (0, 1 << 48)
    assert layout.kernel_range(4) == (0xFFFF000000000000, 1 << 64)
    # Before NUMBER(TCR_EL1_T1SZ) (v5.9): the kernel's vabits_actual, else
    # VA_BITS.
    old = {k: v for k, v in info.items() if k != "NUMBER(TCR_EL1_T1SZ)"}
    assert Arm64.from_vmcoreinfo(old, OLD, 48).vabits_actual == 48
    assert Arm64.from_vmcoreinfo(old, OLD).vabits_actual == 52
    with pytest.raises(ValueError):
        Arm64.from_vmcoreinfo({"PAGESIZE": "4096"}, NEW)
    with pytest.raises(ValueError):
        Arm64.from_vmcoreinfo({**info, "PAGESIZE": "8192"}, NEW)


def _flag_combinations(layout):
    masks = [m for _, m in layout.swp_flag_bits]
    for bits in range(1 << len(masks)):
        yield sum(m for i, m in enumerate(masks) if bits >> i & 1)


@pytest.mark.parametrize("name", LAYOUTS)
def test_round_trip_every_type_and_flag(name):
    """__swp_entry() / swp_entry_to_pte() then softleaf_from_pte() gives the
    entry back, for every type and every flag the era has."""
    layout, ops = ops_for(name)
    table = ops.table
    rng = random.Random(name)
    for type_num in range(32):
        stype, writable = table.types()[type_num]
        if stype.name == "MARKER":
            offsets = [PTE_MARKER_UFFD_WP, PTE_MARKER_POISONED, PTE_MARKER_GUARD]
        elif stype.name == "SWAP":
            offsets = [1, 2, rng.getrandbits(layout.swp_offset_bits) | 1]
        else:
            offsets = [0, 1, rng.getrandbits(ops.swp_pfn_bits)]
        for offset in offsets:
            entry = ops.swp_entry(type_num, offset)
            pte = ops.softleaf_to_pte(entry)
            for flags in _flag_combinations(layout):
                v = pte | flags
                assert not layout.pte_present(v) and not layout.pte_none(v)
                assert not layout.pmd_present(v)
                back = ops.softleaf_from_pte(v)
                assert back == entry, (type_num, offset, flags)
                assert ops.softleaf_type(back) == stype
                assert ops.softleaf_writable(back) == writable
                if ops.softleaf_has_pfn(back):
                    assert ops.softleaf_to_pfn(back) == offset & ops.swp_pfn_mask


@pytest.mark.parametrize("name", LAYOUTS)
def test_encoders(name):
    """Migration (make_*_migration_entry()), hwpoison and marker entries
    decode to what made them, at PTE and PMD level."""
    layout, ops = ops_for(name)
    pfn = 0x12345
    write = ops.make_writable_migration_entry(pfn)
    pte = ops.softleaf_to_pte(write)
    assert ops.softleaf_is_migration_write(ops.softleaf_from_pte(pte))
    assert ops.softleaf_to_pfn(ops.softleaf_from_pte(pte)) == pfn
    # A THP migration entry (set_pmd_migration_entry()) is the same value.
    assert ops.softleaf_is_migration_write(ops.softleaf_from_pmd(pte))
    read = ops.softleaf_to_pte(ops.make_readable_migration_entry(pfn))
    assert ops.softleaf_is_migration_read(ops.softleaf_from_pte(read))
    assert ops.softleaf_is_hwpoison(ops.softleaf_from_pte(
        ops.softleaf_to_pte(ops.make_hwpoison_entry(pfn))))
    if ops.table.marker_num:
        marker = ops.softleaf_to_pte(ops.make_pte_marker_entry(PTE_MARKER_UFFD_WP))
        assert ops.softleaf_is_uffd_wp_marker(ops.softleaf_from_pte(marker))


def test_kernel_constants():
    """Values the kernel's own macros make, by era."""
    new = LAYOUTS["4k-48"][0]
    old = LAYOUTS["4k-48-v6.1"][0]
    oldest = LAYOUTS["4k-48-v5.10"][0]
    # PAGE_NONE: _PAGE_DEFAULT & ~PTE_VALID | PTE_PRESENT_INVALID | PTE_RDONLY
    # | PTE_NG | PTE_PXN | PTE_UXN (v6.10+), with PTE_PROT_NONE before.
    default = 0x3 | 0x300 | 0x400 | (4 << 2)  # PTE_TYPE_PAGE, SHARED, AF, MT_NORMAL
    page_none_new = (default & ~1) | (1 << 11) | (1 << 7) | (1 << 53) | (1 << 54)
    page_none_old = (default & ~1) | (1 << 58) | (1 << 7) | (1 << 11) | (1 << 53) | (1 << 54)
    pfn = 0x41234
    assert new.pte_present(page_none_new | pfn << 12) and new.pte_protnone(page_none_new)
    assert old.pte_present(page_none_old) and old.pte_protnone(page_none_old)
    assert new.leaf_pfn(page_none_new | pfn << 12, 12, new.physical_mask()) == pfn
    # A user PMD being split (pmdp_invalidate(): pmd_mkinvalid() clears
    # PTE_VALID, sets PTE_PRESENT_INVALID) is present, not PROT_NONE.
    user_thp = 0x1 | (1 << 6) | 0x400 | (1 << 11) | (1 << 54) | (0x40000 << 12)
    invalid = (user_thp & ~1) | (1 << 11)
    assert new.pmd_present(invalid) and not new.pmd_protnone(invalid)
    assert new.pmd_leaf(invalid)
    # Before v6.10, pmd_mkinvalid() sets PMD_PRESENT_INVALID (bit 59).
    invalid_old = (user_thp & ~1) | (1 << 59)
    assert old.pmd_present(invalid_old) and not old.pmd_protnone(invalid_old)
    assert not old.pte_present(invalid_old)
    # Swap PTE layouts: type at bits 6-10 (v6.10+), 3-7 (v5.19+), 2-7.
    assert new.swp_entry(3, 5) == (3 << 6) | (5 << 12)
    assert old.swp_entry(3, 5) == (3 << 3) | (5 << 8)
    assert oldest.swp_entry(3, 5) == (3 << 2) | (5 << 8)
    # Swap flags: no soft-dirty on arm64, uffd-wp only since v6.10.
    assert dict(new.swp_flag_bits) == {"uffd_wp": 1 << 3, "exclusive": 1 << 2}
    assert dict(old.swp_flag_bits) == {"exclusive": 1 << 2}
    assert oldest.swp_flag_bits == () and old.present_flag_bits == ()
    assert dict(new.present_flag_bits) == {"uffd_wp": 1 << 58}


def test_52_bit_physical_addresses():
    """__pte_to_phys(): PA[51:50] in bits 9:8 with LPA2, PA[51:48] in bits
    15:12 with 64K pages and FEAT_LPA; bits 9:8 are the shareability
    without LPA2."""
    lpa2 = LAYOUTS["4k-lpa2"][0]
    phys = (0x3 << 50) | (0x2_3456_7000)
    pte = 0x3 | (phys & ((1 << 50) - 1)) | ((phys >> 50) << 8)
    assert lpa2.leaf_pfn(pte, 12, lpa2.physical_mask()) == phys >> 12
    assert lpa2.table_phys(pte, lpa2.physical_mask()) == phys
    no_lpa2 = LAYOUTS["4k-48"][0]
    shared = 0x3 | 0x300 | 0x2_3456_7000
    assert no_lpa2.leaf_pfn(shared, 12, no_lpa2.physical_mask()) == 0x2_3456_7
    lpa = LAYOUTS["64k-lpa"][0]
    phys = (0xA << 48) | (0x1234 << 16)
    pte = 0x3 | (phys & ((1 << 48) - 1)) | ((phys >> 48) << 12)
    assert lpa.leaf_pfn(pte, 16, lpa.physical_mask()) == phys >> 16
    # A 512 MiB PMD leaf: pmd_pfn() masks with PMD_MASK.
    assert lpa.leaf_pfn(pte | (0x7 << 16), 29, lpa.physical_mask()) == \
        (phys >> 16) & ~((1 << 13) - 1)


@pytest.mark.parametrize("name", LAYOUTS)
def test_vector_equals_scalar(name):
    """Each NumPy method equals the scalar one on random 64-bit values and
    on encoded entries."""
    import numpy as np

    layout, ops = ops_for(name)
    vec = layout.vector()
    rng = random.Random(name)
    values = [rng.getrandbits(64) for _ in range(20000)]
    values += [ops.softleaf_to_pte(ops.swp_entry(rng.randrange(32), rng.getrandbits(30)))
               for _ in range(2000)]
    values += [0, 1, 1 << 11, 1 << 58, (1 << 11) | (1 << 54), (1 << 58) | 1]
    arr = np.array(values, dtype=np.uint64)
    mask = layout.physical_mask()
    assert vec.pte_nonnone(arr).tolist() == [not layout.pte_none(v) for v in values]
    assert vec.pte_present(arr).tolist() == [layout.pte_present(v) for v in values]
    assert vec.pte_protnone(arr).tolist() == [layout.pte_protnone(v) for v in values]
    assert vec.swp_type(arr).tolist() == [layout.swp_type(v) for v in values]
    assert vec.swp_offset(arr).tolist() == [layout.swp_offset(v) for v in values]
    assert vec.pte_pfn(arr, mask).tolist() == \
        [layout.leaf_pfn(v, layout.page_shift, mask) for v in values]


@pytest.mark.parametrize("name", LAYOUTS)
def test_vector_counts_equal_scalar(name):
    """The NumPy classifier of whole PTE tables counts what the scalar
    classifier finds, entry by entry."""
    layout, ops = ops_for(name)
    target = target_for(name)
    rng = random.Random(name)
    n = layout.entries_per_table
    vma = Vma(0, 0, 1 << 40, 0x3, None, False, True, False)
    groups = []
    for t in range(8):
        values = []
        for _ in range(n):
            r = rng.random()
            if r < 0.3:
                values.append(0)
            elif r < 0.5:
                values.append(rng.getrandbits(64))
            else:
                values.append(ops.softleaf_to_pte(ops.swp_entry(
                    rng.randrange(32), rng.getrandbits(rng.choice([3, 20, 30]))))
                    | rng.choice([0] + [m for _, m in layout.swp_flag_bits]))
        raw = array.array("Q", values).tobytes()
        groups.append(PteSlots(vma, t << (layout.page_shift * 2 - 3), memoryview(raw).cast("Q"),
                               3, n - 3, 0))
    got: Counter = Counter()
    count_pte_group(target, groups, got)
    want: Counter = Counter()
    for g in groups:
        for i in range(g.first, g.stop):
            want[classify_value(target, g.values[i], "pte").kind] += 1
    assert got == want


@pytest.mark.parametrize("name", LAYOUTS)
def test_random_values_never_raise(name):
    target = target_for(name)
    rng = random.Random(name)
    for _ in range(5000):
        v = rng.getrandbits(64)
        for level in ("pte", "pmd", "pud"):
            for hugetlb in (False, True):
                assert classify_value(target, v, level, hugetlb=hugetlb).raw == v


def test_lpa2_off_despite_52_bit_physmem():
    """From v6.9 to v6.12, MAX_PHYSMEM_BITS stayed 52 in a 4K LPA2 build
    booted without LPA2 (fixed by Linux kernel commit bf74bb73cd87): bits
    9:8 are then the shareability (PTE_MAYBE_SHARED is PTE_SHARED), not
    PA[51:50]. LPA2 is on exactly when the 52-bit VA is."""
    layout = Arm64(12, 52, 48, 52, NEW)
    user = 0x3 | 0x300 | 0x400 | (1 << 6) | (0x41234 << 12)
    assert layout.leaf_pfn(user, 12, layout.physical_mask()) == 0x41234
    assert layout.physical_mask() == (1 << 48) - 1
    assert Arm64(12, 52, 52, 52, NEW).physical_mask() == (1 << 52) - 1


def test_non_present_pud_is_not_a_leaf():
    """pud_leaf() is pud_present() && !pud_table(): arm64 has no PUD THP
    and no pudp_invalidate(), so a non-present PUD outside hugetlb is
    invalid, whatever its low bits."""
    target = target_for("4k-48")
    for value in (0x50C0, 0x40, 0x1234000):
        assert classify_value(target, value, "pud").kind == Kind.INVALID


def test_corrupt_high_address_bits_are_kept():
    """__pte_to_phys() applies no PHYS_MASK: since v6.9 bits 48-49 of a
    48-bit configuration's descriptor stay in the pfn (so that an entry past
    the memory map is seen as one); before, PTE_ADDR_LOW ends at bit 47."""
    value = 0x3 | (1 << 48) | (0x41234 << 12)
    assert LAYOUTS["4k-48"][0].leaf_pfn(value, 12, 0) == (1 << 36) | 0x41234
    assert LAYOUTS["4k-48-v6.1"][0].leaf_pfn(value, 12, 0) == 0x41234


def test_no_pud_leaf_with_64k_pages():
    """pud_table() is always true with 64K pages: no PUD leaves."""
    target = target_for("64k-lpa")
    block = 0x1 | 0x400 | (1 << 54) | (1 << 42)
    assert classify_value(target, block, "pud").kind == Kind.INVALID
    target = target_for("4k-48")
    assert classify_value(target, block, "pud").kind == Kind.PRESENT


# What each arm64 fixture's kernel is: (page shift, levels, entries of the top
# table, PTE era, descriptors with 52-bit PAs). From how each was built and
# booted (contrib/fixtures/kconfig/*-arm64*.config, the QEMU command line).
FIXTURE_LAYOUTS = {
    # 4K, 52-bit VA under -cpu max (LPA2): 5 levels, PTRS_PER_PGD 16.
    "linux-7.3-arm64-l5-quiescent": (12, 5, 16, "present_invalid", True),
    # The same kernel with arm64.nolva: 48 bits, the top level folded at run
    # time (a whole page of 512 entries), no LPA2.
    "linux-7.3-arm64-l4-quiescent": (12, 4, 512, "present_invalid", False),
    # 64K, 52-bit VA and PA (FEAT_LPA): 3 levels, PTRS_PER_PGD 1024.
    "linux-7.3-arm64-64k-l3-quiescent": (16, 3, 1024, "present_invalid", True),
    # 6.1: 4K, 48-bit VA, the v5.19-v6.9 layout.
    "linux-6.1-arm64-l4-quiescent": (12, 4, 512, "swp_exclusive", False),
}


@pytest.mark.parametrize("name", FIXTURE_LAYOUTS)
def test_fixture_layout_is_probed(name):
    """The layout worked out from each real arm64 dump (VMCOREINFO,
    protection_map[VM_NONE], PG_anon_exclusive) is the one its kernel was
    built and booted with."""
    from conftest import load
    from drgn_softleaf.target import get_target

    prog, manifest = load(name)
    target = get_target(prog)
    layout = target.layout
    page_shift, levels, top, era, pa52 = FIXTURE_LAYOUTS[name]
    assert (layout.page_shift, target.levels, target.table_entries[0], layout.swap.name) == \
        (page_shift, levels, top, era)
    assert (layout.phys_bits == 52) == pa52
    assert levels == manifest["paging_levels"]
    assert prog["PAGE_SHIFT"].value_() == page_shift
