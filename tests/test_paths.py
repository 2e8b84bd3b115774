# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage verdicts on the migration paths that a rule must get right, each a
real 7.3 dump frozen by the fixture builder's debugger where the path
happens (contrib/fixtures/freeze.py PATH_FREEZES), asserted against what
the guest recorded and what the debugger saw:

- paths: a move_pages() batch of a grandchild holding written pages of a
  private file mapping (anonymous folios in a file VMA, indexed by
  vma_start_anon_pgoff()) and pages its parent (the child) wrote, whose
  anon_vma is neither the grandchild VMA's own nor the root; the child is
  asleep in the migration wait on one of them (PG_waiters set);
- device: a test_hmm device migration frozen inside the driver's copy,
  with none of the kernel's migration functions on the stack; and an
  anonymous hugetlb page poisoned in a tail subpage, whose hwpoison entry
  names the head while PG_hwpoison is on the raw error page;
- split: a THP split by the deferred-split shrinker, frozen with its
  refcount frozen at 0 and its mapped pages under migration entries.

Every folio must be in flight, with the evidence that links it to the task
that holds it; nothing may be a finding.
"""

import pytest
from drgn import Object
from drgn.helpers.linux.mm import compound_head, page_to_pfn, pfn_to_page
from drgn.helpers.linux.pid import find_task

from conftest import load
from drgn_softleaf import for_each_leaf_entry
from drgn_softleaf.triage import scan_leaks
from drgn_softleaf.triage.tasks import _folio_sleepers
from pagemap_oracle import PM_PFRAME


def _pid(manifest, role):
    return next(p["pid"] for p in manifest["processes"] if p["role"] == role)


def _report(name):
    prog, manifest = load(name)
    report = scan_leaks(prog)
    assert report.findings == 0 and not report.incomplete, report
    assert report.folios and all(f.verdict == "in-flight" for f in report.folios)
    return prog, manifest, report


def _by_addr(report, pid):
    return {h.addr: f for f in report.folios for h in f.holders if h.pid == pid}


def test_private_file_and_inherited_folios_in_one_batch_are_in_flight():
    prog, manifest, report = _report("linux-7.3-l5-paths")
    grandchild = _pid(manifest, "grandchild")
    by_addr = _by_addr(report, grandchild)
    pages = {p["addr"]: p for p in manifest["pages"]}
    under = [a for a in pages if a in by_addr]
    # The batch was frozen at the remove_migration_ptes() of its first
    # folio: every recorded page but that first one (already remapped
    # before the child fell asleep) is under a migration entry, with the
    # pfn the guest recorded before the migration.
    assert len(under) >= len(pages) - 1
    assert {pages[a]["region"] for a in under} == {"paths_file_private", "paths_inherited"}
    for addr in under:
        f = by_addr[addr]
        holder = next(h for h in f.holders if h.pid == grandchild and h.addr == addr)
        assert holder.pfn == pages[addr]["pagemap"] & PM_PFRAME
        assert holder.kind == pages[addr]["kind"]
        assert f.identity_problems == ()
        assert any(e.startswith(f"held by {grandchild} ") for e in f.evidence), f.evidence
    # The debugger's src is one of them (linked by its frame).
    src = manifest["freeze"]["src_folio"]
    assert any(f.folio.folio == src and any("remove_migration_ptes(): src" in e
                                            for e in f.evidence) for f in report.folios)
    vmas = {}
    task = find_task(prog, grandchild)
    from drgn.helpers.linux.mm import vma_find

    for addr in under:
        vmas[addr] = vma_find(task.mm, addr)
    # The path happens: a private-file folio is anonymous, indexed by
    # address (vma_start_anon_pgoff()), not by the file offset.
    for addr in under:
        f = by_addr[addr]
        if pages[addr]["region"] == "paths_file_private":
            assert f.anon and vmas[addr].vm_file
            assert f.index == addr >> 12
            assert f.index != ((addr - vmas[addr].vm_start.value_()) >> 12) + \
                vmas[addr].vm_pgoff.value_()
    # ... and an inherited folio's anon_vma is neither the grandchild VMA's
    # own nor its root, but on its anon_vma chain.
    inherited = [a for a in under if pages[a]["region"] == "paths_inherited"]
    assert inherited
    for addr in inherited:
        anon_vma = by_addr[addr].mapping & ~3
        own = vmas[addr].anon_vma
        assert anon_vma not in (own.value_(), own.root.value_())


def test_child_asleep_in_the_migration_wait_is_linked_by_the_wait_queue():
    prog, manifest, report = _report("linux-7.3-l5-paths")
    child = _pid(manifest, "child")
    [waiter] = [w for w in report.waiters if w.task.pid == child]
    assert waiter.function == "softleaf_entry_wait_on_locked"
    assert waiter.task.state == "D"
    # The folio of the page it reads (page 1 of the inherited region).
    region = next(r for r in manifest["regions"] if r["name"] == "paths_inherited")
    f = _by_addr(report, child)[region["start"] + 4096]
    assert waiter.folio == f.folio.folio and "waiters" in f.folio.flags
    assert waiter in f.waiters
    # The path that links it is the folio wait queue (the wait function's
    # argument is optimized out here), proven directly too.
    assert waiter.how == "folio wait queue"
    assert _folio_sleepers(prog)[waiter.task.address] == f.folio.folio


def test_device_migration_inside_the_driver_copy_is_in_flight():
    prog, manifest, report = _report("linux-7.3-l5-device")
    freeze = manifest["freeze"]
    pages = [p for p in manifest["pages"] if p["region"] == "device_migrating"]
    by_addr = _by_addr(report, manifest["pid"])
    assert len(report.folios) == freeze["cpages"] == len(pages) == 8
    args = Object(prog, "struct migrate_vma *", freeze["migrate_vma"])
    for i, page in enumerate(pages):
        f = by_addr[page["addr"]]
        assert f.folio.locked and f.identity_problems == ()
        assert f.folio.folio_pfn == page["pagemap"] & PM_PFRAME
        assert f.folio.folio_pfn == args.src[i].value_() >> 6
        assert any("struct migrate_vma" in e and e.startswith(f"held by {manifest['pid']} ")
                   for e in f.evidence), f.evidence
    # None of the kernel's migration functions is on the driver's stack.
    from drgn_softleaf.triage import MIGRATOR_FUNCTIONS

    names = {frame.name for frame in prog.stack_trace(find_task(prog, manifest["pid"]))}
    assert "dmirror_migrate_alloc_and_copy" in names
    assert not names & set(MIGRATOR_FUNCTIONS)


def test_hugetlb_tail_poison_is_not_an_anomaly():
    prog, manifest, report = _report("linux-7.3-l5-device")
    region = next(r for r in manifest["regions"] if r["name"] == "hugetlb_tail_poison")
    [entry] = [e for e in for_each_leaf_entry(prog, pid=manifest["pid"], start=region["start"],
                                              end=region["end"])]
    assert entry.kind.value == "hwpoison" and entry.level == "pmd"
    # The entry names the head; the dissolved folio left PG_hwpoison on the
    # raw error page (subpage 5) only.
    pg_hwpoison = 1 << prog.constant("PG_hwpoison").value_()

    def poisoned(pfn):
        return bool(pfn_to_page(prog, pfn).flags.f.value_() & pg_hwpoison)

    assert not poisoned(entry.pfn) and poisoned(entry.pfn + 5)
    assert page_to_pfn(compound_head(pfn_to_page(prog, entry.pfn))).value_() == entry.pfn
    assert not [a for a in report.anomalies if a.what == "hwpoison-not-poisoned"]
    assert report.anomalies == []


def test_thp_split_with_its_refcount_frozen_is_in_flight():
    prog, manifest, report = _report("linux-7.3-l5-split")
    freeze = manifest["freeze"]
    [f] = report.folios
    assert f.folio.folio == freeze["folio"] and f.folio.order == 9
    assert f.folio.refcount == freeze["refcount"] == 0
    assert any("__folio_split()" in e for e in f.evidence), f.evidence
    # Its mapped half (256 pages) is under migration entries for its pages.
    pages = {p["addr"]: p["pagemap"] & PM_PFRAME for p in manifest["pages"]}
    assert len(pages) == len(f.holders) == 256
    assert {h.addr: h.pfn for h in f.holders} == pages


@pytest.mark.parametrize("name", ["linux-7.3-l5-paths", "linux-7.3-l5-device",
                                  "linux-7.3-l5-split"])
def test_no_task_stack_went_unread(name):
    """The verdicts rest on stacks: all of them were unwound in the dump."""
    _, _, report = _report(name)
    assert report.unwind_failed == [] and report.tasks_examined
