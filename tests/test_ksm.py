# SPDX-License-Identifier: LGPL-2.1-or-later
"""
A KSM folio under migration, on a real 7.3 kernel built with KSM and
without CONFIG_SWAP (linux-7.3ksm-l5-ksm): ksmd merged eight identical
pages into one KSM folio, whose mapping is its stable node
(FOLIO_MAPPING_KSM), and the debugger froze move_pages() of it in
remove_migration_ptes(). The folio is in flight: the anon_vma rule does not
apply to a KSM folio (rmap_walk_ksm() finds its mappings through the stable
node). The same dump is a kernel without swap: no swap_info[], and every
command still runs.
"""

from drgn import Object

from conftest import load
from drgn_softleaf import get_target
from drgn_softleaf.triage import scan_leaks
from drgn_softleaf.triage.rules import _anon_vma_chain
from pagemap_oracle import PM_PFRAME

NAME = "linux-7.3ksm-l5-ksm"


def test_ksm_folio_under_migration_is_in_flight():
    prog, manifest = load(NAME)
    assert [s for s in manifest["stats"] if s["name"] == "ksm_pages_sharing"][0]["after"] >= 7
    pfns = {p["pagemap"] & PM_PFRAME for p in manifest["pages"]}
    assert len(pfns) == 1, "the eight pages are one KSM folio"
    report = scan_leaks(prog)
    assert report.findings == 0 and not report.incomplete
    [f] = report.folios
    assert f.verdict == "in-flight" and f.identity_problems == ()
    assert f.folio.folio_pfn == pfns.pop() and f.folio.folio == manifest["freeze"]["src_folio"]
    assert f.mapping & 3 == 3  # FOLIO_MAPPING_KSM
    assert sorted(h.addr for h in f.holders) == sorted(p["addr"] for p in manifest["pages"])
    assert any(e.startswith(f"held by {manifest['pid']} ") for e in f.evidence), f.evidence
    # The path happens: frozen after folio_migrate_ksm() (mm/ksm.c) moved
    # the stable node to the new folio, the old one's mapping is the KSM
    # flags alone, and the new one's is the stable node. Neither is on the
    # VMA's anon_vma chain: the anon_vma rule would have called this
    # healthy folio stuck.
    from drgn.helpers.linux.mm import vma_find
    from drgn.helpers.linux.pid import find_task

    new = Object(prog, "struct folio *", manifest["freeze"]["dst_folio"])
    stable_node = new.mapping.value_() & ~3
    assert new.mapping.value_() & 3 == 3 and stable_node
    # ... whose kpfn is the new folio's pfn (folio_migrate_ksm()).
    from drgn.helpers.linux.mm import page_to_pfn

    new_pfn = page_to_pfn(Object(prog, "struct page *", new.value_())).value_()
    assert Object(prog, "struct ksm_stable_node *", stable_node).kpfn.value_() == new_pfn
    vma = vma_find(find_task(prog, manifest["pid"]).mm, f.holders[0].addr)
    chain = _anon_vma_chain(vma)
    assert chain and f.mapping & ~3 not in chain and stable_node not in chain


def test_kernel_without_swap():
    prog, manifest = load(NAME)
    assert "swap_info" not in prog and "nr_swapfiles" not in prog
    target = get_target(prog)
    # 7.3 with MEMORY_FAILURE, MIGRATION, DEVICE_PRIVATE: 24 swap types.
    assert target.table.max_swapfiles == 24
    assert any("no CONFIG_SWAP" in n for n in target.probe_notes)
    report = scan_leaks(prog)
    assert not [c for c in report.counters if c.what.startswith("swap ")]
    assert all(c.ok for c in report.counters)
