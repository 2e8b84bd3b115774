# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.render: tables and reports that never cut a cell, at every
width, from the records the scan and triage return."""

import io

import pytest

from conftest import load
from test_robustness import DEMO, _run


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160])
def test_tables_never_cut_at_any_width(width, monkeypatch):
    """On every width, every address, count and name in the tables appears
    whole: nothing is replaced by an ellipsis and no column is dropped."""
    import drgn_softleaf.render as render

    prog, manifest = load(DEMO)
    orig = render.make_console
    monkeypatch.setattr(render, "make_console", lambda file=None, w=None: orig(file, width))
    pid = str(manifest["pid"])
    _, out = _run(prog, ["vmas", "-p", pid])
    import re

    from drgn_softleaf import address_space, vma_counts

    # Cells are words: a column of a table, or HEADER=value when even the
    # columns do not fit.
    words = set(re.split(r"[\s=]+", out))

    for vma, counts in vma_counts(address_space(prog, pid=manifest["pid"])):
        assert f"{vma.start:#x}" in words and f"{vma.end:#x}" in words
        if vma.name:
            assert vma.name in out.replace("\n", "")
    assert "…" not in out
    _, out = _run(prog, ["summary"])
    assert "…" not in out and "2202" in re.split(r"[\s=]+", out)
    _, out = _run(prog, ["entries", "-p", pid, "--kind", "swap"])
    swaps = [p for p in manifest["pages"] if p["kind"] == "swap"]
    assert all(f"{p['addr']:#x}" in out.split() for p in swaps)
    assert "…" not in out
    _, out = _run(prog, ["leaks"])
    assert "…" not in out


@pytest.mark.parametrize("width", [40, 72, 200])
@pytest.mark.parametrize("name", ["linux-7.3-l5-leak", "linux-7.3-l5-migrate"])
def test_leaks_report_names_every_holder_at_any_width(name, width):
    """Every holder of every folio, with its address and raw value, is in
    the report whole, on a console of any width."""
    from drgn_softleaf.render import make_console, render_leaks
    from drgn_softleaf.triage import scan_leaks

    prog, _ = load(name)
    report = scan_leaks(prog)
    out = io.StringIO()
    render_leaks(make_console(out, width=width), report, verbose=True)
    text = out.getvalue()
    words = set(text.replace("=", " ").split())
    assert report.folios
    for f in report.folios:
        assert f"{f.folio.folio:#x}" in words
        for h in f.holders:
            assert f"{h.addr:#x}" in words and f"{h.raw:#018x}" in words
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= max(width, 100)


@pytest.mark.parametrize("width", [30, 60, 200])
def test_entries_table_wraps_details_under_narrow_consoles(width):
    from drgn_softleaf import address_space
    from drgn_softleaf.render import make_console, render_entries
    from drgn_softleaf.scan import Listing

    prog, manifest = load(DEMO)
    space = address_space(prog, pid=manifest["pid"])
    out = io.StringIO()
    listed = render_entries(make_console(out, width=width), space, Listing(space).entries())
    text = out.getvalue()
    assert listed == sum(1 for _ in Listing(space).entries()) > 1000
    assert text.splitlines()[-1] == f"{listed} entries"
    assert "/dev/zram0" in text.replace("\n", "").replace(" ", "")
