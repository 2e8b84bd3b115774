# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.checks: the memory map's extent as the rules see it."""

import pytest

from conftest import EXPECTED_FIXTURES, load


@pytest.mark.parametrize("name", EXPECTED_FIXTURES)
def test_memory_map_sections_equal_drgn(name):
    """The section table read a root at a time gives drgn's valid_section()
    for every present section."""
    import numpy as np
    from drgn.helpers.linux.mmzone import for_each_present_section, valid_section

    from drgn_softleaf.checks import get_memory_map

    prog, _ = load(name)
    memmap = get_memory_map(prog)
    want = [nr for nr, ms in for_each_present_section(prog) if valid_section(ms)]
    assert want and np.flatnonzero(memmap.valid_sections).tolist() == want
    assert memmap.highest_memmap_pfn >> memmap.section_shift == want[-1]
