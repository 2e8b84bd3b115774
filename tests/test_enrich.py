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
from drgn_softleaf import Enricher, Kind, for_each_address_space, for_each_leaf_entry


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

