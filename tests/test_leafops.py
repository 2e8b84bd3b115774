# SPDX-License-Identifier: LGPL-2.1-or-later
"""Unit tests of the pure port: include/linux/leafops.h, swapops.h and the
x86-64 swap PTE encoding. Values come from the kernel's own encoders, ported
alongside the decoders; the type numbers are the ones the kernel headers
define (include/linux/swap.h of each version)."""

import itertools
import random

import pytest

from drgn_softleaf.arch.x86_64 import X86_64_LAYOUT as X86
from drgn_softleaf.leafops import (
    PTE_MARKER_GUARD,
    PTE_MARKER_POISONED,
    PTE_MARKER_UFFD_WP,
    Leafops,
    SoftleafType,
    SwapTypeTable,
)

T = SoftleafType

# include/linux/swap.h with MEMORY_FAILURE, MIGRATION, DEVICE_PRIVATE (and
# PTE markers): 7.3 (three device types), 6.12 (four), 6.1 (SWP_SWAPIN_ERROR
# after the marker), 5.10 (two device types, no read-exclusive migration, no
# markers) and Debian 12's 6.1 (no DEVICE_PRIVATE: MAX_SWAPFILES 26).
KERNEL_TABLES = {
    "7.3": (
        SwapTypeTable.linux_6_15(),
        24,
        {
            24: (T.HWPOISON, None),
            25: (T.MIGRATION_READ, None),
            26: (T.MIGRATION_READ_EXCLUSIVE, None),
            27: (T.MIGRATION_WRITE, None),
            28: (T.DEVICE_PRIVATE_WRITE, None),
            29: (T.DEVICE_PRIVATE_READ, None),
            30: (T.DEVICE_EXCLUSIVE, None),
            31: (T.MARKER, None),
        },
    ),
    "6.12": (
        SwapTypeTable.linux_6_12(),
        23,
        {
            23: (T.HWPOISON, None),
            24: (T.MIGRATION_READ, None),
            25: (T.MIGRATION_READ_EXCLUSIVE, None),
            26: (T.MIGRATION_WRITE, None),
            27: (T.DEVICE_PRIVATE_WRITE, None),
            28: (T.DEVICE_PRIVATE_READ, None),
            29: (T.DEVICE_EXCLUSIVE, True),
            30: (T.DEVICE_EXCLUSIVE, False),
            31: (T.MARKER, None),
        },
    ),
    "6.1": (
        SwapTypeTable.linux_6_1(),
        22,
        {
            22: (T.HWPOISON, None),
            23: (T.MIGRATION_READ, None),
            24: (T.MIGRATION_READ_EXCLUSIVE, None),
            25: (T.MIGRATION_WRITE, None),
            26: (T.DEVICE_PRIVATE_WRITE, None),
            27: (T.DEVICE_PRIVATE_READ, None),
            28: (T.DEVICE_EXCLUSIVE, True),
            29: (T.DEVICE_EXCLUSIVE, False),
            30: (T.MARKER, None),
            31: (T.SWAPIN_ERROR, None),
        },
    ),
    "5.10": (
        SwapTypeTable(1, 2, 2, 0, 0),
        27,
        {
            27: (T.HWPOISON, None),
            28: (T.MIGRATION_READ, None),
            29: (T.MIGRATION_WRITE, None),
            30: (T.DEVICE_PRIVATE_WRITE, None),
            31: (T.DEVICE_PRIVATE_READ, None),
        },
    ),
    "6.1-debian": (
        SwapTypeTable(1, 3, 0, 1, 1, swapin_error_num=1),
        26,
        {
            26: (T.HWPOISON, None),
            27: (T.MIGRATION_READ, None),
            28: (T.MIGRATION_READ_EXCLUSIVE, None),
            29: (T.MIGRATION_WRITE, None),
            30: (T.MARKER, None),
            31: (T.SWAPIN_ERROR, None),
        },
    ),
}

# MAX_PHYSMEM_BITS 52 (5-level) and 46 (4-level) on x86-64.
PFN_BITS = (40, 34)
SWP_FLAGS = [0, 1 << 1, 1 << 2, 1 << 3]  # soft-dirty, uffd-wp, exclusive


def ops_for(version: str, pfn_bits: int = 40, ad: bool = True) -> Leafops:
    return Leafops(X86, KERNEL_TABLES[version][0], pfn_bits, ad)


@pytest.mark.parametrize("version", KERNEL_TABLES)
def test_type_numbers(version):
    table, max_swapfiles, special = KERNEL_TABLES[version]
    assert table.max_swapfiles == max_swapfiles
    types = table.types()
    assert len(types) == 32
    for num in range(max_swapfiles):
        assert types[num] == (T.SWAP, None)
    for num, expected in special.items():
        assert types[num] == expected


def _all_flag_combinations():
    for r in range(len(SWP_FLAGS)):
        for combo in itertools.combinations(SWP_FLAGS[1:], r):
            yield sum(combo)


@pytest.mark.parametrize("version", KERNEL_TABLES)
@pytest.mark.parametrize("pfn_bits", PFN_BITS)
def test_round_trip_every_type_and_flag(version, pfn_bits):
    table, max_swapfiles, special = KERNEL_TABLES[version]
    ops = ops_for(version, pfn_bits)
    rng = random.Random(f"{version}-{pfn_bits}")
    for type_num in range(32):
        stype, writable = table.types()[type_num]
        if stype == T.MARKER:
            offsets = [PTE_MARKER_UFFD_WP, PTE_MARKER_POISONED, PTE_MARKER_GUARD]
        elif stype == T.SWAP:
            # Offset 0 of a swap device is its header, never a slot (and
            # type 0 offset 0 is the none entry).
            offsets = [1, 2, rng.getrandbits(X86.swp_offset_bits) | 1]
        else:
            offsets = [0, 1, rng.getrandbits(pfn_bits)]
        for offset in offsets:
            entry = ops.swp_entry(type_num, offset)
            pte = ops.softleaf_to_pte(entry)
            for flags in _all_flag_combinations():
                v = pte | flags
                # A swap PTE is neither present nor none.
                assert not X86.pte_present(v)
                assert not X86.pte_none(v)
                back = ops.softleaf_from_pte(v)
                assert back == entry, (type_num, offset, flags)
                assert ops.softleaf_type(back) == stype
                assert ops.softleaf_writable(back) == writable
                if ops.softleaf_has_pfn(back):
                    assert ops.softleaf_to_pfn(back) == offset & ops.swp_pfn_mask
                if stype == T.SWAP:
                    assert ops.swp_type(back) == type_num
                    assert ops.swp_offset(back) == offset


@pytest.mark.parametrize("version", KERNEL_TABLES)
def test_encoders(version):
    ops = ops_for(version)
    pfn = 0x12345
    assert ops.softleaf_is_migration_read(ops.make_readable_migration_entry(pfn))
    if KERNEL_TABLES[version][0].migration_num == 3:
        assert ops.softleaf_is_migration_read_exclusive(
            ops.make_readable_exclusive_migration_entry(pfn)
        )
    else:
        # Before v5.19 there is no read-exclusive migration entry.
        with pytest.raises(ValueError):
            ops.make_readable_exclusive_migration_entry(pfn)
    write = ops.make_writable_migration_entry(pfn)
    assert ops.softleaf_is_migration_write(write)
    assert ops.softleaf_is_migration(write)
    assert ops.softleaf_to_pfn(write) == pfn
    assert not ops.softleaf_is_migration_young(write)
    young_dirty = ops.make_migration_entry_dirty(ops.make_migration_entry_young(write))
    assert ops.softleaf_is_migration_young(young_dirty)
    assert ops.softleaf_is_migration_dirty(young_dirty)
    assert ops.softleaf_to_pfn(young_dirty) == pfn
    if KERNEL_TABLES[version][0].device_num:
        assert ops.softleaf_is_device_private_write(ops.make_writable_device_private_entry(pfn))
        assert ops.softleaf_is_device_private(ops.make_readable_device_private_entry(pfn))
    assert ops.softleaf_is_hwpoison(ops.make_hwpoison_entry(pfn))
    table = KERNEL_TABLES[version][0]
    if not table.marker_num:
        # Before v5.19: no PTE markers at all.
        with pytest.raises(ValueError):
            ops.make_pte_marker_entry(PTE_MARKER_UFFD_WP)
        return
    assert ops.softleaf_is_uffd_wp_marker(ops.make_pte_marker_entry(PTE_MARKER_UFFD_WP))
    # Before v6.2, the only marker bit is uffd-wp, and a swap-in error is a
    # type of its own; since, it is a marker bit.
    assert ops.softleaf_is_poison_marker(ops.make_poisoned_swp_entry()) == \
        bool(table.marker_mask & PTE_MARKER_POISONED)
    if table.swapin_error_num:
        error = ops.make_swapin_error_entry(pfn)
        assert ops.softleaf_is_swapin_error(error) and ops.softleaf_to_pfn(error) == pfn
        assert ops.softleaf_has_pfn(error) and not ops.softleaf_is_marker(error)
    else:
        with pytest.raises(ValueError):
            ops.make_swapin_error_entry(pfn)
    valid = [write]
    if table.device_num:
        valid.append(ops.make_readable_device_private_entry(pfn))
    for e in valid:
        assert ops.softleaf_is_valid_pmd_entry(e)
    assert not ops.softleaf_is_valid_pmd_entry(ops.make_hwpoison_entry(pfn))
    assert not ops.softleaf_is_valid_pmd_entry(ops.make_pte_marker_entry(PTE_MARKER_UFFD_WP))


def test_marker_bit_names_of_each_era():
    """Bit 1 is PTE_MARKER_SWAPIN_ERROR from v6.2 to v6.5, then
    PTE_MARKER_POISONED; guard (bit 2) since v6.13; only uffd-wp before v6.2."""
    six_two = Leafops(X86, SwapTypeTable(1, 3, 4, 1, 3, swapin_error_marker=True), 40, True)
    assert six_two.marker_names(six_two.make_pte_marker_entry(3)) == ("uffd_wp", "swapin_error")
    six_one = ops_for("6.1")
    assert six_one.marker_names(six_one.make_pte_marker_entry(7)) == ("uffd_wp",)
    assert ops_for("6.12").marker_names(ops_for("6.12").make_pte_marker_entry(7)) == \
        ("uffd_wp", "poison")


def test_device_exclusive_encoders():
    new = ops_for("7.3")
    assert new.softleaf_is_device_exclusive(new.make_device_exclusive_entry(5))
    with pytest.raises(ValueError):
        new.make_writable_device_exclusive_entry(5)
    old = ops_for("6.12")
    w = old.make_writable_device_exclusive_entry(5)
    r = old.make_readable_device_exclusive_entry(5)
    assert old.softleaf_is_device_exclusive(w) and old.softleaf_writable(w) is True
    assert old.softleaf_is_device_exclusive(r) and old.softleaf_writable(r) is False


def test_guard_marker_needs_mask():
    # Before 6.13 PTE_MARKER_MASK is 3: a guard bit is not a marker bit.
    old = ops_for("6.12")
    entry = old.make_pte_marker_entry(PTE_MARKER_GUARD)
    assert old.softleaf_to_marker(entry) == 0
    assert not old.softleaf_is_guard_marker(entry)
    new = ops_for("7.3")
    assert new.softleaf_is_guard_marker(new.make_guard_swp_entry())
    assert new.marker_names(new.make_pte_marker_entry(7)) == ("uffd_wp", "poison", "guard")


def test_migration_ad_unsupported():
    ops = ops_for("7.3", ad=False)
    e = ops.make_writable_migration_entry(7)
    assert ops.make_migration_entry_young(e) == e
    # Bits above the pfn are not A/D when the kernel does not store them.
    forged = ops.swp_entry(ops.swp_type(e), 7 | ops.swp_mig_young)
    assert not ops.softleaf_is_migration_young(forged)


def test_x86_swap_offset_is_inverted():
    # __swp_entry() stores ~offset in bits 9-58 and the type in 59-63, so a
    # small offset sets the high physical bits (L1TF mitigation).
    v = X86.swp_entry(0, 0)
    assert v == ((1 << 59) - 1) & ~((1 << 9) - 1)
    v = X86.swp_entry(31, 0)
    assert v >> 59 == 31


def test_present_and_none():
    assert X86.pte_none(0) and X86.pte_none(0x60)  # A/D only: KNL erratum
    assert X86.pte_present(1) and X86.pte_present(0x100)  # PROT_NONE
    assert X86.pte_protnone(0x100) and not X86.pte_protnone(0x101)
    # pmd_present() counts PSE (a splitting THP), pud_present() does not.
    assert X86.pmd_present(0x80) and not X86.pud_present(0x80)
    # protnone entries store their pfn inverted.
    pfn = 0x1234
    protnone = (~(pfn << 12) & ((1 << 52) - 1) & ~0xFFF) | 0x100
    assert X86.leaf_pfn(protnone, 12, X86.physical_mask()) == pfn
    # The memory-encryption bit is not part of a pfn.
    sme = 1 << 47
    assert X86.leaf_pfn((pfn << 12) | sme | 1, 12, X86.physical_mask(sme)) == pfn


@pytest.mark.parametrize("version", KERNEL_TABLES)
def test_random_values_never_raise(version):
    from drgn_softleaf.classify import classify_value
    from drgn_softleaf.target import Target

    ops = ops_for(version)
    target = Target(X86, 5, X86.level_shifts(5), X86.table_entries(5), 52, 0, X86.physical_mask(), ops.table, ops,
                    version, ())
    rng = random.Random(version)
    for _ in range(20000):
        v = rng.getrandbits(64)
        for level in ("pte", "pmd", "pud"):
            for hugetlb in (False, True):
                e = classify_value(target, v, level, hugetlb=hugetlb)
                assert e.raw == v


@pytest.mark.parametrize("version", KERNEL_TABLES)
def test_vector_counts_equal_scalar(version):
    """The NumPy classifier of whole tables counts exactly what the scalar
    classifier finds, entry by entry, on random and on encoded values."""
    import array
    from collections import Counter

    from drgn_softleaf.classify import classify_value, count_pte_group
    from drgn_softleaf.target import Target
    from drgn_softleaf.vma import Vma
    from drgn_softleaf.walk import PteSlots

    ops = ops_for(version)
    target = Target(X86, 5, X86.level_shifts(5), X86.table_entries(5), 52, 0, X86.physical_mask(), ops.table, ops,
                    version, ())
    rng = random.Random(version)
    vma = Vma(0, 0, 1 << 40, 0x3, None, False, True, False)
    groups = []
    for t in range(40):
        values = []
        for _ in range(512):
            r = rng.random()
            if r < 0.3:
                values.append(0)
            elif r < 0.5:
                values.append(rng.getrandbits(64))
            elif r < 0.6:
                values.append(rng.choice([0x20, 0x40, 0x60]))  # none (KNL bits)
            else:
                type_num = rng.randrange(32)
                offset = rng.getrandbits(rng.choice([3, 20, 40]))
                values.append(ops.softleaf_to_pte(ops.swp_entry(type_num, offset))
                              | rng.choice(SWP_FLAGS))
        raw = array.array("Q", values).tobytes()
        groups.append(PteSlots(vma, t << 21, memoryview(raw).cast("Q"), 3, 509, 0))
    got: Counter = Counter()
    count_pte_group(target, groups, got)
    want: Counter = Counter()
    for g in groups:
        for i in range(g.first, g.stop):
            want[classify_value(target, g.values[i], "pte").kind] += 1
    assert got == want


def test_kernel_tables_are_not_decoded():
    """Non-present entries of the kernel's own page tables are not softleaf
    entries (set_memory_np() leaves an inverted pfn): shown raw."""
    from drgn_softleaf.classify import Kind, classify_value
    from drgn_softleaf.target import Target
    from drgn_softleaf.vma import Vma

    ops = ops_for("7.3")
    target = Target(X86, 5, X86.level_shifts(5), X86.table_entries(5), 52, 0, X86.physical_mask(), ops.table, ops,
                    "7.3", ())
    kernel = Vma(0, 0xFF00000000000000, 1 << 64, 0, None, False, True, False, kernel=True)
    user = Vma(0, 0x1000, 0x2000, 0x3, None, False, True, False)
    # A present kernel PTE whose present bit set_memory_np() cleared: the pfn
    # is stored inverted, which as a user PTE would decode as swap.
    np_pte = (~(0x1234 << 12) & ((1 << 52) - 1) & ~0xFFF) | 0x63 & ~1
    assert classify_value(target, np_pte, "pte", vma=user).kind != Kind.KERNEL_NOT_PRESENT
    e = classify_value(target, np_pte, "pte", vma=kernel)
    assert e.kind == Kind.KERNEL_NOT_PRESENT and e.raw == np_pte and e.pfn is None
    assert classify_value(target, 0x1234063, "pte", vma=kernel).kind == Kind.PRESENT
    assert classify_value(target, 0x1234000 | 0xE3, "pmd", vma=kernel).pfn == 0x1200
