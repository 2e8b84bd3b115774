# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.vma: the VMAs read straight from the maple tree (or drgn's
rbtree walk before it), and the gaps between them."""

import pytest

from conftest import EXPECTED_FIXTURES, fixtures_of_mode, load
from drgn_softleaf import get_target


@pytest.mark.parametrize("name", EXPECTED_FIXTURES)
def test_direct_maple_tree_read_equals_drgn(name):
    """The VMAs read straight from the maple tree's nodes are drgn's
    for_each_vma(), in the same order, for every address space."""
    from drgn.helpers.linux.mm import for_each_vma

    from drgn_softleaf.scan import for_each_address_space
    from drgn_softleaf.vma import mm_vma_addresses

    prog, _ = load(name)
    spaces = list(for_each_address_space(prog))
    assert spaces
    total = 0
    for space in spaces:
        want = [vma.value_() for vma in for_each_vma(space.mm)]
        assert mm_vma_addresses(space.mm) == want, space.pid
        total += len(want)
    assert total > len(spaces)


@pytest.mark.parametrize("name", fixtures_of_mode("quiescent"))
def test_every_recorded_region_lies_in_one_vma(name):
    """Each region the guest program recorded is inside one VMA, with the
    flags its mapping asked for (readable, and hugetlb exactly where the
    program made a hugetlb mapping)."""
    from drgn_softleaf.scan import address_space
    from drgn_softleaf.vma import mm_vmas

    prog, manifest = load(name)
    vmas = mm_vmas(address_space(prog, pid=manifest["pid"]).mm)
    assert [v.start for v in vmas] == sorted(v.start for v in vmas)
    for region in manifest["regions"]:
        inside = [v for v in vmas if v.start <= region["start"] and region["end"] <= v.end]
        assert len(inside) == 1, region
        assert inside[0].hugetlb == region["name"].startswith("hugetlb"), region


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-5.10-l5-quiescent",
                                  "linux-7.3-arm64-64k-l3-quiescent"])
def test_gaps_cover_exactly_what_no_vma_covers(name):
    from drgn_softleaf.scan import for_each_address_space
    from drgn_softleaf.vma import mm_vmas, vma_gaps

    prog, _ = load(name)
    target = get_target(prog)
    task_size = target.layout.user_range(target.levels)[1]
    for space in for_each_address_space(prog):
        vmas = mm_vmas(space.mm)
        gaps = vma_gaps(vmas, task_size)
        assert all(g.gap and not g.address for g in gaps)
        pieces = sorted([(v.start, v.end) for v in vmas] + [(g.start, g.end) for g in gaps])
        # VMAs and gaps tile [0, TASK_SIZE) without overlap.
        assert pieces[0][0] == 0 and pieces[-1][1] == task_size
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:])), space.pid
