# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.target: what each real dump's kernel is, probed from the
program alone, against how the kernel was built and booted (the manifest)
and what the kernel itself reports (pagemap's swap type numbers)."""

import pytest

from conftest import EXPECTED_FIXTURES, load
from drgn_softleaf import get_target


@pytest.mark.parametrize("name", EXPECTED_FIXTURES)
def test_levels_and_swap_table_of_every_fixture(name):
    prog, manifest = load(name)
    target = get_target(prog)
    assert target.levels == manifest["paging_levels"]
    assert [n for n, _ in target.level_shifts][-1] == "pte"
    assert len(target.level_shifts) == len(target.table_entries) == target.levels
    # MAX_SWAPFILES is the length of swap_info[]; the special types fill
    # the rest of the 32 type numbers.
    table = target.table
    if "swap_info" in prog:
        assert table.max_swapfiles == len(prog["swap_info"])
    else:
        # The KSM kernel has no CONFIG_SWAP (tests/test_ksm.py).
        assert any("no CONFIG_SWAP" in n for n in target.probe_notes)
    assert len(target.leafops.types) == 32
    assert target.release == manifest["kernel_release"]


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-l5-quiescent",
                                  "linux-5.10-l5-quiescent", "linux-7.3-arm64-l5-quiescent"])
def test_swap_type_numbers_are_the_kernels(name):
    """For every non-present page the guest recorded, pagemap's swap type
    number names the kind our table gives that number."""
    prog, manifest = load(name)
    types = get_target(prog).leafops.types
    checked = 0
    for page in manifest["pages"]:
        pm = page["pagemap"]
        if not pm >> 62 & 1 or page["kind"] in ("swap", "none"):  # PM_SWAP
            continue
        kind, _ = types[pm & 31]
        want = page["kind"]
        assert kind.value == want, (hex(page["addr"]), pm & 31, kind, want)
        checked += 1
    assert checked > 5
