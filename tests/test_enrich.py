# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn_softleaf.enrich: the folio behind a pfn, and the swap slot behind a
swap entry.

A swap slot mapped by more processes than its own count can say, on real
dumps: the guest swapped a page out and forked 70 children, so the slot's
swap count is 71, which 7.3 keeps in the cluster's extend table past
SWP_TB_COUNT_MAX (mm/swapfile.c) and older kernels in COUNT_CONTINUED
pages past SWAP_MAP_MAX. The count shown is the number of page-table
entries that map the slot, counted independently over every process.
"""

import pytest

from conftest import fixtures_of_mode, load
from drgn_softleaf import Enricher, Kind, for_each_address_space, for_each_leaf_entry, get_target


@pytest.mark.parametrize("name", fixtures_of_mode("swapcount"))
def test_swap_count_past_the_slot_byte(name):
    prog, manifest = load(name)
    [page] = manifest["pages"]
    assert page["kind"] == "swap" and manifest["children"] == 70
    slot = (page["pagemap"] & 31, (page["pagemap"] & ((1 << 55) - 1)) >> 5)
    mapped = 0
    for space in for_each_address_space(prog):
        for e in for_each_leaf_entry(prog, mm=space.mm):
            if e.kind == Kind.SWAP and (e.swap_type, e.swap_offset) == slot:
                mapped += 1
    assert mapped == 71
    info = Enricher(prog).swap(*slot)
    assert info.error is None and info.count == mapped


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-l5-quiescent",
                                  "linux-5.10-l5-quiescent", "linux-7.3-arm64-l5-quiescent"])
def test_folio_of_every_present_page(name):
    """The folio of each present entry of the scenario holds its pfn, is
    drgn's compound_head() of its page, and is mapped (a present entry is a
    mapping the kernel counts)."""
    from drgn.helpers.linux.mm import compound_head, pfn_to_page

    prog, manifest = load(name)
    enricher = Enricher(prog)
    checked = 0
    special = get_target(prog).layout.special_mask
    for e in for_each_leaf_entry(prog, pid=manifest["pid"]):
        # (A special entry, the zero page's, maps no counted folio.)
        if e.kind != Kind.PRESENT or e.level != "pte" or e.raw & special:
            continue
        f = enricher.folio(e.pfn)
        assert f.error is None
        assert f.folio_pfn <= e.pfn < f.folio_pfn + (1 << f.order)
        assert f.page == pfn_to_page(prog, e.pfn).value_()
        assert f.folio == compound_head(pfn_to_page(prog, e.pfn)).value_()
        assert f.refcount > 0 and f.mapcount > 0, hex(e.addr)
        checked += 1
    assert checked > 100
