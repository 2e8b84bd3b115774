# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.probe: what the program says of itself, on real dumps."""

import pytest

from conftest import load
from drgn_softleaf.probe import (
    has_constant,
    has_member,
    has_symbol,
    has_type,
    is_live,
    is_local,
    kconfig,
    vmcoreinfo,
)


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-5.10-l5-quiescent",
                                  "linux-7.3-arm64-64k-l3-quiescent"])
def test_probes_answer_from_the_dump(name):
    prog, manifest = load(name)
    assert has_symbol(prog, "init_task") and not has_symbol(prog, "no_such_symbol_xyz")
    assert has_type(prog, "struct mm_struct") and not has_type(prog, "struct no_such_xyz")
    assert has_constant(prog, "PG_locked") and not has_constant(prog, "NO_SUCH_CONSTANT_XYZ")
    mm = prog["init_mm"]
    assert has_member(mm, "pgd") and not has_member(mm, "no_such_member")
    # The maple tree came with Linux 6.1.
    assert has_member(mm, "mm_mt") == (manifest["kernel"] != "5.10")
    # A dump is not a running kernel.
    assert not is_live(prog) and not is_local(prog)


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.1-arm64-l4-quiescent"])
def test_vmcoreinfo_names_the_kernel(name):
    prog, manifest = load(name)
    info = vmcoreinfo(prog)
    assert info["OSRELEASE"] == manifest["kernel_release"]
    assert int(info["PAGESIZE"]) == prog["PAGE_SIZE"].value_()


def test_kconfig_where_the_kernel_has_it():
    """The 5.10 kernel was built without IKCONFIG (README: Fixtures)."""
    prog, _ = load("linux-7.3-l5-quiescent")
    config = kconfig(prog)
    assert config is not None and config["CONFIG_MIGRATION"] == "y"
    prog, _ = load("linux-5.10-l5-quiescent")
    assert kconfig(prog) is None
