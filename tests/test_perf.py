# SPDX-License-Identifier: LGPL-2.1-or-later
"""The perf fixture, through the vectorized whole-system path: its counts
are what the guest made (speed is measured by benchmarks/bench.py, not
here)."""

import pytest

from conftest import fixtures_of_mode, load
from drgn_softleaf import Kind, address_space, for_each_address_space, space_counts


@pytest.mark.parametrize("name", fixtures_of_mode("perf"))
def test_perf_counts(name):
    prog, manifest = load(name)
    made = manifest["counts"]
    spaces = list(for_each_address_space(prog))
    assert len(spaces) >= made["children"] + 1
    counts = space_counts(address_space(prog, pid=manifest["pid"]))
    # The uffd-wp range has a present page every 7 to 17 pages (scenario.c).
    holes, i = 0, 0
    while i < made["uffd_wp_range_pages"]:
        holes += 1
        i += 7 + i % 11
    assert counts[Kind.SWAP] == made["swapped_pages"]
    assert counts[Kind.MARKER] == made["guard_pages"] + made["uffd_wp_range_pages"] - holes
    # Every present page the guest mapped, plus the program's own.
    assert made["present_pages"] <= counts[Kind.PRESENT] <= made["present_pages"] + 1000
    assert counts[Kind.PRESENT] > 4_000_000
