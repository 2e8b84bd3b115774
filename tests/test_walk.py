# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn_softleaf.walk: the two walks against each other and the path to each
page, and torn page-table reads (live kernels): when the upper entry that points to a
page table changes while the table is read (the table was freed, or
replaced by another), the walker reads again from the entry's new value and
never decodes the first table's entries under it; when it changes on every
read, the range is reported unreadable.

The memory is the real quiescent 7.3 dump's, read through a second drgn
program whose reader changes one real PMD entry to another real PMD
entry's value at the moment the walker has read the table it pointed to:
the rule under test is the walker's re-read logic (the live guest,
tests/test_live.py, runs the same walker on a running kernel).
"""

import drgn
import pytest

import drgn_softleaf.walk as walk
from conftest import load
from drgn_softleaf import address_space, get_target
from drgn_softleaf.vma import mm_vmas
from drgn_softleaf.walk import (
    HugeLeaf,
    NoneRange,
    PteSlots,
    Unreadable,
    mm_pgd_phys,
    walk_path,
    walk_range,
)

PAGE = 4096


def _two_pte_tables(prog, manifest):
    """Two PMD entries of the scenario that point to different PTE tables,
    each under a present page: (entry phys, value, table phys, address)."""
    pgd = mm_pgd_phys(address_space(prog, pid=manifest["pid"]).mm)
    found = {}
    for page in manifest["pages"]:
        if page["kind"] != "present" or page.get("expect", {}).get("level", "pte") != "pte":
            continue
        steps = walk_path(prog, pgd, page["addr"])
        pmd = next(s for s in steps if s.level == "pmd")
        if pmd.role != "table":
            continue
        table = steps[-1].entry_phys & ~(PAGE - 1)
        found.setdefault(pmd.entry_phys, (pmd.entry_phys, pmd.value, table, page["addr"]))
        if len(found) == 2:
            return pgd, list(found.values())
    pytest.fail("no two PTE tables under present pages")


class _Changing:
    """Reads the dump; after the walker has read a watched PTE table, the
    PMD entry that pointed to it holds another value (once, or on every
    read of a table)."""

    def __init__(self, prog, entry_phys, values, tables, always):
        self.prog = prog
        self.entry_phys = entry_phys
        self.values = values
        self.tables = tables
        self.always = always
        self.current = None

    def __call__(self, address, count, offset, physical):
        data = bytearray(self.prog.read(address, count, True))
        if self.current is not None and address <= self.entry_phys < address + count:
            at = self.entry_phys - address
            data[at:at + 8] = self.current.to_bytes(8, "little")
        if count == PAGE and address in self.tables:
            if self.current is None or self.always:
                # The entry now points to the other table.
                self.current = self.values[1] if self.current != self.values[1] \
                    else self.values[0]
        return bytes(data)


def _program(prog, reader):
    other = drgn.Program(prog.platform)
    other.add_memory_segment(0, 1 << 52, reader, True)
    return other


def _walk(prog, manifest, always, holes):
    target = get_target(prog)
    pgd, [(entry_a, value_a, table_a, addr_a), (_, value_b, table_b, _)] = \
        _two_pte_tables(prog, manifest)
    vmas = mm_vmas(address_space(prog, pid=manifest["pid"]).mm)
    vma = next(v for v in vmas if v.start <= addr_a < v.end)
    reader = _Changing(prog, entry_a, (value_a, value_b), {table_a, table_b}, always)
    items = list(walk_range(_program(prog, reader), pgd, [vma], holes=holes, target=target))
    lo = addr_a & ~((1 << 21) - 1)
    under = [i for i in items if isinstance(i, (PteSlots, Unreadable))
             and (getattr(i, "base", None) == lo or getattr(i, "start", -1) >= lo
                  and getattr(i, "start", -1) < lo + (1 << 21))]
    return under, table_a, table_b


@pytest.mark.parametrize("holes", [False, True])
def test_a_table_replaced_while_read_is_read_again(monkeypatch, holes):
    prog, manifest = load("linux-7.3-l5-quiescent")
    monkeypatch.setattr(walk, "is_live", lambda prog: True)
    under, table_a, table_b = _walk(prog, manifest, always=False, holes=holes)
    slots = [i for i in under if isinstance(i, PteSlots)]
    assert slots and {i.table for i in slots} == {table_b}, (hex(table_a), hex(table_b), under)
    # What is decoded under it is the second table's entries, all of them.
    assert all(bytes(i.values) == prog.read(table_b, PAGE, True) for i in slots)


@pytest.mark.parametrize("holes", [False, True])
def test_a_table_that_changes_on_every_read_is_unreadable(monkeypatch, holes):
    prog, manifest = load("linux-7.3-l5-quiescent")
    monkeypatch.setattr(walk, "is_live", lambda prog: True)
    under, _, _ = _walk(prog, manifest, always=True, holes=holes)
    assert under and all(isinstance(i, Unreadable) for i in under), under
    assert all("changed on each of 5 reads" in i.reason for i in under)


def test_a_dump_is_never_read_twice(monkeypatch):
    """On a vmcore (not live) the walker does not re-read parent entries:
    the first table is what it decodes."""
    prog, manifest = load("linux-7.3-l5-quiescent")
    under, table_a, _ = _walk(prog, manifest, always=False, holes=False)
    assert {i.table for i in under if isinstance(i, PteSlots)} == {table_a}


def _slots(items, page):
    """(VMA start, first address, last address, table) of each run of PTE
    slots, and every huge leaf, of a walk."""
    out = []
    for i in items:
        if isinstance(i, PteSlots):
            out.append(("pte", i.vma.start, i.base + i.first * page, i.base + i.stop * page,
                        i.table, bytes(i.values[i.first:i.stop])))
        elif isinstance(i, HugeLeaf):
            out.append((i.level, i.vma.start, i.addr, i.addr + i.size, i.table, i.value))
    return out


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-5.10-l5-quiescent",
                                  "linux-7.3-arm64-l5-quiescent",
                                  "linux-7.3-arm64-64k-l3-quiescent"])
def test_the_two_walks_find_the_same_leaves(name):
    """The table-by-table walk (no holes) and the per-VMA walk from the top
    (holes) hand out the same PTE slots and huge leaves, in the same
    order; the latter also the none ranges, which with the leaves tile
    every VMA, and nothing is unreadable."""
    prog, manifest = load(name)
    space = address_space(prog, pid=manifest["pid"])
    vmas = mm_vmas(space.mm)
    pgd = mm_pgd_phys(space.mm)
    plain = list(walk_range(prog, pgd, vmas))
    holes = list(walk_range(prog, pgd, vmas, holes=True))
    page = 1 << get_target(prog).layout.page_shift
    assert _slots(plain, page) == _slots(holes, page) and _slots(plain, page)
    assert not any(isinstance(i, Unreadable) for i in holes)
    assert not any(isinstance(i, NoneRange) for i in plain)
    for vma in vmas:
        pieces = sorted((i.base + i.first * page, i.base + i.stop * page)
                        if isinstance(i, PteSlots) else
                        (max(i.addr, vma.start), min(i.addr + i.size, vma.end))
                        if isinstance(i, HugeLeaf) else (i.start, i.end)
                        for i in holes if i.vma is vma)
        assert pieces[0][0] == vma.start and pieces[-1][1] == vma.end, hex(vma.start)
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:])), hex(vma.start)


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-arm64-l4-quiescent"])
def test_walk_path_ends_at_the_walks_leaf(name):
    """For every page the guest recorded, the path down to it ends at the
    slot the walk hands out for it, with the same value."""
    prog, manifest = load(name)
    space = address_space(prog, pid=manifest["pid"])
    pgd = mm_pgd_phys(space.mm)
    by_slot = {}
    for item in walk_range(prog, pgd, mm_vmas(space.mm)):
        if isinstance(item, PteSlots):
            for k in range(item.first, item.stop):
                by_slot[item.table + 8 * k] = item.values[k]
        elif isinstance(item, HugeLeaf):
            by_slot[item.table + 8 * ((item.addr >> get_target(prog).level_shift(item.level))
                                      % get_target(prog).layout.entries_per_table)] = item.value
    checked = 0
    for page in manifest["pages"]:
        last = walk_path(prog, pgd, page["addr"])[-1]
        if last.role == "leaf":
            assert by_slot[last.entry_phys] == last.value, hex(page["addr"])
            checked += 1
    assert checked > 100
