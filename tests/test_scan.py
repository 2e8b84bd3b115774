# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.scan: the one stream from the walk to every consumer. Its
forms (one entry at a time, batches on the vector path, triage's
selection, counts) hand out the same entries on the real dumps."""

import pytest

from conftest import load
from drgn_softleaf import Kind, address_space, for_each_leaf_entry
from drgn_softleaf.scan import (
    EntryBatch,
    Listing,
    Selection,
    for_each_address_space,
    selected_entries,
    space_counts,
    system_counts,
)
from drgn_softleaf.vma import mm_vmas
from drgn_softleaf.walk import Unreadable

FIXTURES = ["linux-7.3-l5-quiescent", "linux-6.1-l5-quiescent", "linux-5.10-l5-quiescent",
            "linux-7.3-l5-migrate", "linux-7.3-arm64-l5-quiescent",
            "linux-7.3-arm64-64k-l3-quiescent"]


def _rows(stream):
    """(address, raw) of every entry a stream of Listing.batches() stands for."""
    out = []
    for item in stream:
        if isinstance(item, EntryBatch):
            rows = {int(r): (int(item.addrs[r]), int(item.raws[r]))
                    for r in item.bulk.nonzero()[0]}
            for indexes, e in item.others:
                for r in indexes.tolist():
                    rows[r] = (int(item.addrs[r]), e.entry.raw)
            out += [rows[r] for r in sorted(rows)]
        else:
            out.append((item.entry.addr, item.entry.raw))
    return out


@pytest.mark.parametrize("name", FIXTURES)
def test_batches_stand_for_the_same_entries(name):
    """Listing.batches() (the vector path) and Listing.entries() list the
    same entries, in the same order, with the same impossible count; a
    repeated value's one enriched entry stands for slots of that value."""
    prog, manifest = load(name)
    space = address_space(prog, pid=manifest["pid"])
    one, bulk = Listing(space), Listing(space)
    entries = list(one.entries())
    assert [(e.entry.addr, e.entry.raw) for e in entries] == _rows(bulk.batches())
    assert (one.impossible, one.incomplete) == (bulk.impossible, bulk.incomplete)
    assert [e.entry for e in entries] == list(for_each_leaf_entry(prog, pid=manifest["pid"]))


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-7.3-l5-migrate"])
def test_listing_selects_by_kind_and_range(name):
    prog, manifest = load(name)
    space = address_space(prog, pid=manifest["pid"])
    every = [e.entry for e in Listing(space).entries()]
    kinds = {e.kind for e in every if e.kind != Kind.PRESENT}
    assert kinds
    got = [e.entry for e in Listing(space, kinds=kinds).entries()]
    assert got == [e for e in every if e.kind in kinds]
    lo, hi = got[0].addr, got[-1].addr
    ranged = [e.entry for e in Listing(space, start=lo, end=hi).entries()]
    # (Their VMAs are clipped to the range.)
    assert [(e.addr, e.raw, e.kind) for e in ranged] == [
        (e.addr, e.raw, e.kind) for e in every if lo <= e.addr < hi]


@pytest.mark.parametrize("name", FIXTURES + ["linux-7.3-l5-perf"])
def test_selection_hands_out_all_but_what_it_counts(name):
    """Triage's selection: every entry but present PTEs and markers inside
    VMAs, which it counts; the counts add up to what space_counts() finds."""
    prog, _ = load(name)
    for space in for_each_address_space(prog):
        vmas = mm_vmas(space.mm)
        selection = Selection()
        got = list(selected_entries(space, vmas, selection=selection))
        assert not any(isinstance(e, Unreadable) for e in got)
        counts = space_counts(space, vmas)
        nonnone = sum(n for k, n in counts.items() if k != Kind.NONE)
        assert selection.counted + len(got) == nonnone, space.pid
        assert all(e.kind not in (Kind.PRESENT, Kind.MARKER) or e.level != "pte" for e in got)
        assert selection.counted >= counts[Kind.PRESENT] - sum(
            e.kind == Kind.PRESENT for e in got)


def test_gaps_are_walked_and_their_entries_have_no_vma():
    """With gaps, the walk also covers the user range between VMAs: on an
    intact dump it finds nothing there (what it finds there is an
    anomaly: tests/test_robustness.py)."""
    prog, manifest = load("linux-7.3-l5-quiescent")
    space = address_space(prog, pid=manifest["pid"])
    vmas = mm_vmas(space.mm)
    with_gaps = list(selected_entries(space, vmas, gaps=True))
    assert with_gaps == list(selected_entries(space, vmas))
    assert all(e.vma is not None for e in with_gaps)


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-arm64-l4-quiescent"])
def test_system_counts_are_per_space_counts(name):
    prog, _ = load(name)
    rows, unreadable = system_counts(prog)
    assert rows and not unreadable
    for space, nvmas, counts, impossible in rows:
        vmas = mm_vmas(space.mm)
        assert nvmas == len(vmas) and counts == space_counts(space, vmas)
        assert not sum(impossible.values())
    _, manifest = load(name)
    mine = [c for s, _, c, _ in rows if s.pid == manifest["pid"]]
    assert len(mine) == 1 and mine[0][Kind.PRESENT] == sum(
        e.kind == Kind.PRESENT for e in for_each_leaf_entry(prog, pid=manifest["pid"]))
