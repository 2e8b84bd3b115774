# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.classify: the vector classification of whole PTE tables
against the per-entry one, and triage's selection against both."""

import pytest

from conftest import load
from drgn_softleaf import get_target


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


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-l5-quiescent",
                                  "linux-5.10-l5-quiescent", "linux-7.3-l5-migrate",
                                  "linux-7.3-l5-rwp", "linux-7.3-arm64-l5-quiescent",
                                  "linux-7.3-arm64-64k-l3-quiescent"])
def test_batch_entries_equal_classify_value(name):
    """Every entry of every address space, classified a batch at a time
    (the vector path), is the entry classify_value() makes of its value at
    its address in its VMA; and count_item() counts exactly those."""
    from collections import Counter

    from drgn_softleaf.classify import (
        Kind,
        batch_entries,
        batch_items,
        classify_pte_batch,
        classify_value,
        count_item,
    )
    from drgn_softleaf.scan import for_each_address_space, walk_address_space

    prog, _ = load(name)
    target = get_target(prog)
    checked = 0
    for space in for_each_address_space(prog):
        _, walk = walk_address_space(space)
        for item in batch_items(walk):
            if not isinstance(item, list):
                continue
            got = list(batch_entries(target, classify_pte_batch(target, item)))
            want = [classify_value(target, e.raw, "pte", vma=e.vma, addr=e.addr) for e in got]
            assert got == want
            counts: Counter = Counter()
            count_item(target, item, counts)
            kinds = Counter(e.kind for e in got)
            assert {k: n for k, n in counts.items() if k != Kind.NONE} == dict(kinds)
            checked += len(got)
    assert checked > 200
