# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage rules
------------

The verdict on each folio under migration entries: the rules the kernel
keeps for such a folio, one small function each naming the kernel code it
mirrors (referenced, not free, still mapped, and what its entries say it
is), then :func:`_verdict`, which weighs them with the folio's lock and
the tasks that hold it.
"""

from typing import List, Optional, Sequence, Set, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.enrich import FolioInfo
from drgn_softleaf.probe import has_member
from drgn_softleaf.target import get_target
from drgn_softleaf.triage.collect import Collector
from drgn_softleaf.triage.records import Holder, MigrationFolio, Migrator, Task
from drgn_softleaf.triage.tasks import device_migrators, quiet_dwarf
from drgn_softleaf.vma import Vma

__all__ = ("folio_mapping", "judge_folios")

# include/linux/page-flags.h: the low bits of folio->mapping.
_FOLIO_MAPPING_ANON = 0x1
_FOLIO_MAPPING_KSM = 0x3
_FOLIO_MAPPING_FLAGS = 0x3
# An anon_vma chain longer than this is taken as unreadable.
_CHAIN_LIMIT = 1 << 16

_VERDICT_ORDER = {"leaked": 0, "stuck": 1, "unknown": 2, "in-flight": 3}


def judge_folios(prog: Program, collector: Collector,
                 migrators: Sequence[Migrator]) -> None:
    """A verdict for each folio under migration entries, with its evidence:
    the rules below, one function each, then :func:`_verdict`."""
    report = collector.report
    infos = {head: collector.enricher.folio(holders[0].pfn)
             for head, holders in collector.holders.items()}
    # Device migrations are searched for only when a locked folio has no
    # migrator otherwise (it means reading every task's frames).
    if any(info.locked and not any(head in m.folios for m in migrators)
           for head, info in infos.items()):
        with quiet_dwarf():
            migrators = list(migrators) + device_migrators(prog)
    for head, holders in collector.holders.items():
        report.folios.append(_judge_folio(prog, collector, head, infos[head], holders,
                                          migrators))
    report.folios.sort(key=lambda f: (_VERDICT_ORDER[f.verdict], f.folio.folio))


def _judge_folio(prog: Program, collector: Collector, head: int, info: FolioInfo,
                 holders: Sequence[Holder], migrators: Sequence[Migrator]) -> MigrationFolio:
    """The verdict on folio *head* (*info*), which *holders* hold."""
    report = collector.report
    head_obj = Object(prog, "struct page *", head)
    anon, mapping, index = folio_mapping(head_obj)
    linked = [(m, m.folios[head]) for m in migrators if head in m.folios]
    # A migrator whose batch lists could not be read may hold folios it
    # does not name: it cannot be ruled out (not linked, not excluded).
    unsure = [m for m in migrators if head not in m.folios and not m.complete]
    problems = [p for p in (
        _rule_refcount(info, bool(linked)),
        _rule_free(head_obj),
        # (Not when the mapping could not be read: anon is None then.)
        _rule_mapping_cleared(mapping, bool(linked)) if anon is not None else None,
        *(_identity(prog, head_obj, anon, mapping, index, holder, vma)
          for holder, vma in collector.holder_vmas[head]),
    ) if p]
    verdict, evidence = _verdict(info, problems, linked, unsure, report.unwind_failed)
    return MigrationFolio(
        folio=info, anon=anon, mapping=mapping, index=index, holders=tuple(holders),
        identity_problems=tuple(dict.fromkeys(problems)),
        migrators=tuple(dict.fromkeys([m.task for m, _ in linked] +
                                      [m.task for m in unsure])),
        waiters=tuple(w for w in report.waiters if w.folio == head), verdict=verdict,
        evidence=tuple(evidence),
    )


def _rule_refcount(info: FolioInfo, linked: bool) -> Optional[str]:
    """A folio under migration entries is referenced: a refcount of 0 or
    less means it was freed, unless the task holding it froze the count
    (``folio_ref_freeze()`` in ``__folio_migrate_mapping()``, mm/migrate.c,
    and ``__folio_split()``, mm/huge_memory.c, hold it at 0 while they move
    the mapping over)."""
    if info.refcount < 0 or (info.refcount == 0 and not linked):
        return f"refcount {info.refcount}"
    return None


def _rule_free(head: Object) -> Optional[str]:
    """A folio in the buddy allocator (``PageBuddy()``) is no folio at all."""
    return "the folio is free (in the buddy allocator)" if _page_is_buddy(head) else None


def _page_is_buddy(page: Object) -> bool:
    """``PageBuddy()`` (include/linux/page-flags.h): the page type, in the
    top byte of ``page_type``, is PGTY_buddy (``False`` on kernels without
    page types in that form)."""
    prog = page.prog_
    try:
        pgty = prog.constant("PGTY_buddy").value_()
    except LookupError:
        return False
    try:
        return (page.page_type.value_() >> 24) == pgty
    except (AttributeError, FaultError):
        return False


def _rule_mapping_cleared(mapping: int, linked: bool) -> Optional[str]:
    """A folio under migration entries has its mapping, except the one its
    migrator is finishing: ``move_to_new_folio()`` (mm/migrate.c) clears
    it. (For mapped folios the identity rule says which mapping.)"""
    if mapping == 0 and not linked:
        return "no mapping: the folio was already migrated or freed"
    return None


def folio_mapping(head: Object) -> Tuple[Optional[bool], int, Optional[int]]:
    """(anonymous, ``mapping``, ``index``) of a folio (*head*: its head
    ``struct page *``); ``(None, 0, None)`` if they cannot be read."""
    try:
        mapping = head.mapping.value_()
        index = head.index.value_() if has_member(head, "index") else \
            head.__folio_index.value_()
    except (FaultError, LookupError, AttributeError):
        return None, 0, None
    # FOLIO_MAPPING_ANON (PAGE_MAPPING_ANON before 6.16) is bit 0.
    return bool(mapping & _FOLIO_MAPPING_ANON), mapping, index


def _identity(prog: Program, head: Object, anon: Optional[bool], mapping: int,
              index: Optional[int], holder: Holder, vma: Optional[Vma]) -> Optional[str]:
    """Check that the folio is what the holder's VMA and address say (a
    folio without a mapping is :func:`_rule_mapping_cleared`'s): the rmap
    walk that removes migration entries (``remove_migration_ptes()``,
    mm/migrate.c) finds this mapping only through the folio's anon_vma or
    file mapping and its index."""
    if vma is None or index is None or anon is None or mapping == 0:
        return None
    from drgn.helpers.linux.mm import page_to_pfn

    try:
        v = Object(prog, "struct vm_area_struct *", vma.address)
        if vma.hugetlb:
            return None
        page_in_folio = holder.pfn - page_to_pfn(head).value_()
        linear = _linear_index(v, holder.addr, bool(anon),
                               get_target(prog).layout.page_shift)
        if anon:
            if mapping & _FOLIO_MAPPING_FLAGS == _FOLIO_MAPPING_KSM:
                # A KSM folio: mapping is its stable node, and the rmap walk
                # (rmap_walk_ksm() in mm/ksm.c) finds its VMAs through the
                # stable node's rmap items, not an anon_vma; its index is
                # not the address's. Nothing here to compare.
                return None
            problem = _anon_identity(v, mapping, holder)
        else:
            problem = _file_identity(v, mapping, holder)
        if problem is not None:
            return problem
        if index + page_in_folio != linear:
            return (f"folio index {index:#x}+{page_in_folio} does not match address "
                    f"{holder.addr:#x} (page {linear:#x} of the mapping)")
    except (FaultError, LookupError, AttributeError):
        return None
    return None


def _anon_identity(vma: Object, mapping: int, holder: Holder) -> Optional[str]:
    """An anonymous folio's anon_vma is on its VMA's anon_vma chain
    (``rmap_walk_anon()`` in mm/rmap.c finds VMAs only through it).

    :param vma: ``struct vm_area_struct *``
    """
    if not vma.anon_vma.value_():
        return f"anon folio mapped at {holder.addr:#x} whose VMA has no anon_vma"
    anon_vma = mapping & ~_FOLIO_MAPPING_FLAGS
    chain = _anon_vma_chain(vma)
    if chain is not None and anon_vma not in chain:
        return (f"anon folio's anon_vma {anon_vma:#x} is not on its VMA's anon_vma "
                "chain (rmap_walk_anon() would not find this mapping)")
    return None


def _file_identity(vma: Object, mapping: int, holder: Holder) -> Optional[str]:
    """A file folio's mapping is its VMA's file's (``rmap_walk_file()`` in
    mm/rmap.c walks the VMAs of ``folio->mapping``).

    :param vma: ``struct vm_area_struct *``
    """
    file = vma.vm_file.read_()
    if not file:
        return f"file folio mapped at {holder.addr:#x} in an anonymous VMA"
    if file.f_mapping.value_() != mapping:
        return f"file folio's mapping {mapping:#x} is not its VMA's file"
    return None


def _linear_index(vma: Object, addr: int, anon: bool, page_shift: int) -> int:
    """
    The index a folio mapped at *addr* in *vma* has: ``linear_page_index()``
    for a file folio, ``linear_anon_page_index()`` for an anonymous one
    (include/linux/pagemap.h).

    :param vma: ``struct vm_area_struct *``
    """
    delta = (addr - vma.vm_start.value_()) >> page_shift
    if anon and has_member(vma, "__vm_anon_pgoff_lo"):
        # Since Linux 7.x, a VMA keeps the anonymous page offset of its
        # start apart from vm_pgoff (vma_start_anon_pgoff() in
        # include/linux/mm.h): anonymous folios of a MAP_PRIVATE file
        # mapping are indexed by it, not by the file offset. Before, both
        # were vm_pgoff.
        pgoff = vma.__vm_anon_pgoff_lo.value_()
        if has_member(vma, "__vm_anon_pgoff_hi"):
            pgoff += vma.__vm_anon_pgoff_hi.value_() << 32
        return delta + pgoff
    return delta + vma.vm_pgoff.value_()


def _anon_vma_chain(vma: Object) -> Optional[Set[int]]:
    """
    The anon_vmas a VMA is linked to (``vma->anon_vma_chain``: its own, and
    one per ancestor whose pages it may map after fork(), mm/rmap.c
    anon_vma_fork()). An anonymous folio is mapped in a VMA only if its
    anon_vma is one of them: ``rmap_walk_anon()`` finds VMAs through the
    folio's anon_vma's interval tree of those chain links. ``None`` if the
    chain cannot be read.

    :param vma: ``struct vm_area_struct *``
    """
    from drgn.helpers.linux.list import list_for_each_entry

    out = set()
    try:
        for avc in list_for_each_entry("struct anon_vma_chain",
                                       vma.anon_vma_chain.address_of_(), "same_vma"):
            out.add(avc.anon_vma.value_())
            if len(out) > _CHAIN_LIMIT:
                return None
    except (FaultError, LookupError):
        return None
    return out


def _verdict(info: FolioInfo, problems: Sequence[str],
             linked: Sequence[Tuple[Migrator, str]], unsure: Sequence[Migrator],
             unwind_failed: Sequence[Task]) -> Tuple[str, List[str]]:
    """
    The verdict from the evidence: a migration entry may exist only while
    its folio is locked (``softleaf_migration_sync()``,
    include/linux/leafops.h), so unlocked is ``leaked``; locked but not
    what the entries say is ``stuck``; locked and held by a task is
    ``in-flight``; locked, held by no task found, but with stacks that
    could not be unwound, ``unknown``; else ``stuck``.
    """
    evidence = [f"PG_locked {'set' if info.locked else 'clear'} "
                "(softleaf_migration_sync(): a migration entry needs its folio locked)"]
    evidence += [f"held by {m.task.pid} ({m.task.comm}): {how}" for m, how in linked]
    evidence += [f"maybe held by {m.task.pid} ({m.task.comm}): migrating, its batch "
                 "lists unreadable" for m in unsure]
    evidence += [f"identity: {p}" for p in problems]
    if not info.locked:
        return "leaked", evidence
    if problems:
        return "stuck", evidence
    if linked or unsure:
        return "in-flight", evidence
    if unwind_failed:
        evidence.append(f"no migrator found; {len(unwind_failed)} task stacks could not be "
                        "unwound")
        return "unknown", evidence
    evidence.append("no task holds it: no migration frame names it or has it on a batch "
                    "list, no device migration's src array has it")
    return "stuck", evidence
