# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage tasks
------------

The tasks around migration entries, found by their stacks: migrators (a
frame of page migration, THP split or device migration, and the folios its
variables and batch lists name) and waiters (a task in the migration wait
path, and the folio it waits on).
"""

import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from drgn import FaultError, Object, ObjectAbsentError, Program

from drgn_softleaf.enrich import Enricher
from drgn_softleaf.live import read_leaf
from drgn_softleaf.probe import has_symbol, has_type
from drgn_softleaf.target import get_target
from drgn_softleaf.triage.records import LeakReport, Migrator, Task, Waiter
from drgn_softleaf.walk import mm_pgd_phys

__all__ = (
    "MIGRATOR_FUNCTIONS",
    "WAIT_FUNCTIONS",
    "container_of_folio",
    "device_migrators",
    "examine_tasks",
    "quiet_dwarf",
)

# Functions on the stack of a task that legitimately holds migration
# entries: page migration, THP split, device migration.
MIGRATOR_FUNCTIONS = (
    "migrate_pages",
    # Before folios (v5.x): one page at a time.
    "unmap_and_move",
    "__unmap_and_move",
    "unmap_and_move_huge_page",
    "move_to_new_page",
    "split_huge_page_to_list",
    "unmap_page",
    "migrate_pages_batch",
    "migrate_pages_sync",
    "migrate_folio_unmap",
    "migrate_folio_move",
    "move_to_new_folio",
    "remove_migration_ptes",
    "try_to_migrate",
    "unmap_folio",
    "remap_page",
    "__split_huge_page",
    "__folio_split",
    "split_huge_page_to_list_to_order",
    "migrate_vma_setup",
    "migrate_vma_pages",
    "migrate_vma_finalize",
    "migrate_device_range",
    "migrate_device_pages",
    "migrate_device_finalize",
)

# Functions a task waiting on a migration entry runs, newest first; which
# exist depends on the kernel (probed).
WAIT_FUNCTIONS = (
    "softleaf_entry_wait_on_locked",
    "migration_entry_wait_on_locked",
    "__migration_entry_wait",
    "migration_entry_wait",
    "pmd_migration_entry_wait",
    "migration_entry_wait_huge",
    "__migration_entry_wait_huge",
    # Before v5.17, __migration_entry_wait() slept here.
    "put_and_wait_on_page_locked",
)

# Local variables of a migrating frame that hold its batch (mm/migrate.c:
# migrate_pages() and migrate_pages_batch() keep the folios they work on
# on these lists, linked by folio->lru, until each is moved or given up).
_BATCH_LISTS = ("from", "unmap_folios", "dst_folios", "folios", "ret_folios",
                "split_folios", "src_folios")
# A batch list longer than this is taken as unreadable.
_LIST_LIMIT = 1 << 16

# include/linux/migrate.h: a migrate_vma src entry is the pfn shifted by
# MIGRATE_PFN_SHIFT with flag bits below; MIGRATE_PFN_MIGRATE marks a page
# migrate_vma_setup() collected, locked and replaced by migration entries.
MIGRATE_PFN_VALID = 1 << 0
MIGRATE_PFN_MIGRATE = 1 << 1
MIGRATE_PFN_SHIFT = 6

# A frame: its function's name and the drgn StackFrame.
Frames = List[Tuple[str, object]]


def _task(task: Object) -> Task:
    from drgn.helpers.linux.sched import task_state_to_char

    try:
        state = task_state_to_char(task)
    except (FaultError, LookupError, ValueError):
        state = "?"
    return Task(task.pid.value_(), task.comm.string_().decode(errors="replace"), state,
                task.value_())


def _stack_functions(prog: Program, task: Object) -> Optional[Frames]:
    """The named frames of *task*'s stack, or ``None`` if it cannot be
    unwound (a running task of a live kernel)."""
    try:
        trace = prog.stack_trace(task)
    except (ValueError, FaultError, LookupError):
        return None
    out = []
    for frame in trace:
        name = frame.name
        if name:
            out.append((name, frame))
    return out


def examine_tasks(prog: Program, report: LeakReport, enricher: Enricher,
                  migration_entries: bool) -> List[Migrator]:
    """
    Tasks: migrators and waiters, by stack. A task waits on a migration
    entry of some page table, and a migrator holds some: with none in any
    page table (*migration_entries* false, and all of them read), no stack
    needs unwinding. Returns the migrating tasks (by a frame of
    :data:`MIGRATOR_FUNCTIONS`) with the folios they hold; the waiters go
    to *report*.
    """
    from drgn.helpers.linux.pid import for_each_task

    wait_functions = tuple(f for f in WAIT_FUNCTIONS if has_symbol(prog, f))
    report.wait_functions = wait_functions
    migrators: List[Migrator] = []
    waiters: List[Waiter] = []
    sleepers: Optional[Dict[int, int]] = None
    report.tasks_examined = migration_entries or report.incomplete
    for task in for_each_task(prog) if report.tasks_examined else ():
        frames = _stack_functions(prog, task)
        if frames is None:
            report.unwind_failed.append(_task(task))
            continue
        names = [n for n, _ in frames]
        if any(n in MIGRATOR_FUNCTIONS for n in names):
            with quiet_dwarf():
                folios, complete = _migrator_folios(prog, frames)
            migrators.append(Migrator(_task(task), folios, complete))
        hit = next((n for n in names if n in wait_functions), None)
        if hit is not None:
            folio, how = _waiter_folio(prog, dict(frames)[hit], enricher)
            if folio is None:
                sleepers = _folio_sleepers(prog) if sleepers is None else sleepers
                folio = sleepers.get(task.value_())
                if folio is not None:
                    how = "folio wait queue"
            waiters.append(Waiter(_task(task), hit, folio, how))
    report.waiters = waiters
    return migrators


def _migrator_folios(prog: Program, frames: Sequence[Tuple[str, object]]
                     ) -> Tuple[Dict[int, str], bool]:
    """
    The folios a migrating task holds: those its migration frames name (a
    ``struct folio *`` or ``struct page *`` variable: ``src``, ``folio``)
    and those on its batch lists (:data:`_BATCH_LISTS`). Complete if a
    batch list was read (the frames' variables alone name only the folio
    being worked on).
    """
    folios: Dict[int, str] = {}
    complete = False
    for name, frame in frames:
        if name not in MIGRATOR_FUNCTIONS:
            continue
        for var in _frame_locals(frame):
            try:
                if _frame_folios(prog, name, frame, var, folios):
                    complete = True
            except (KeyError, LookupError, FaultError, AttributeError, ValueError,
                    ObjectAbsentError):
                continue
    return folios, complete


def _frame_folios(prog: Program, name: str, frame: object, var: str,
                  folios: Dict[int, str]) -> bool:
    """Add to *folios* the folio local *var* of *frame* (of function
    *name*) points to, or those on it if it is a batch list; return whether
    it was a batch list, read whole."""
    from drgn.helpers.linux.list import list_for_each

    v = frame[var]  # type: ignore[index]
    type_ = v.type_.unqualified()
    kind = type_.kind.name
    target = type_.type.unqualified() if kind == "POINTER" else type_
    tag = getattr(target, "tag", None)
    if kind == "POINTER" and tag in ("folio", "page"):
        if v.value_():
            head = _head(prog, v)
            folios.setdefault(head, f"{name}(): {var}")
    elif tag == "list_head" and var in _BATCH_LISTS:
        head_ptr = v if kind == "POINTER" else v.address_of_()
        n = 0
        for node in list_for_each(head_ptr):
            n += 1
            if n > _LIST_LIMIT:
                raise ValueError("list too long")
            folio = container_of_folio(prog, node)
            folios.setdefault(folio, f"{name}(): on list {var}")
        return True
    return False


def _frame_locals(frame: object) -> List[str]:
    try:
        return list(frame.locals())  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return []


@contextlib.contextmanager
def quiet_dwarf() -> Iterator[None]:
    """Reading every local of every frame meets DWARF that drgn cannot
    evaluate (it logs a warning for each, e.g. DW_OP_GNU_uninit); such a
    variable is simply unavailable here, so keep the user's terminal free of
    those warnings."""
    import logging

    logger = logging.getLogger("drgn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _head(prog: Program, ptr: Object) -> int:
    """The folio (head page) a ``struct folio *`` or ``struct page *`` is."""
    from drgn.helpers.linux.mm import compound_head

    if ptr.type_.type.unqualified().tag == "page":
        return compound_head(ptr).value_()
    return ptr.value_()


def container_of_folio(prog: Program, node: Object) -> int:
    """The folio whose ``lru`` is *node* (before folios, the page's)."""
    from drgn import container_of

    if has_type(prog, "struct folio"):
        return container_of(node, "struct folio", "lru").value_()
    return _head(prog, container_of(node, "struct page", "lru"))


def device_migrators(prog: Program) -> List[Migrator]:
    """
    Tasks in a device migration (``migrate_vma_setup()`` ...
    ``migrate_vma_pages()`` / ``migrate_vma_finalize()``, mm/migrate_device.c):
    a driver keeps a ``struct migrate_vma`` on its stack (or a pointer to
    one) for the whole migration, and while it copies, often asleep on a
    DMA fence, none of the kernel's migration functions is on the stack.
    Its ``src`` array names the folios it holds locked under migration
    entries. Every task's frames are searched for such a variable.
    """
    from drgn.helpers.linux.pid import for_each_task

    if not has_type(prog, "struct migrate_vma"):
        return []
    out = []
    for task in for_each_task(prog):
        frames = _stack_functions(prog, task)
        folios: Dict[int, str] = {}
        for name, frame in frames or ():
            for var in _frame_locals(frame):
                try:
                    _migrate_vma_folios(prog, name, frame, var, folios)
                except (KeyError, LookupError, FaultError, AttributeError, ValueError,
                        ObjectAbsentError):
                    continue
        if folios:
            out.append(Migrator(_task(task), folios, True))
    return out


def _migrate_vma_folios(prog: Program, name: str, frame: object, var: str,
                        folios: Dict[int, str]) -> None:
    """If local *var* of *frame* (of function *name*) is a ``struct
    migrate_vma`` or a pointer to one, add to *folios* those its ``src``
    array holds under migration entries."""
    from drgn.helpers.linux.mm import compound_head, pfn_to_page

    v = frame[var]  # type: ignore[index]
    type_ = v.type_.unqualified()
    if type_.kind.name == "POINTER":
        if type_.type.unqualified().tag != "migrate_vma" or not v.value_():
            return
        args = v[0]
    elif getattr(type_, "tag", None) == "migrate_vma":
        args = v
    else:
        return
    src = args.src
    for i in range(min(args.npages.value_(), 1 << 16)):
        entry = src[i].value_()
        if entry & MIGRATE_PFN_MIGRATE and entry & MIGRATE_PFN_VALID:
            head = compound_head(pfn_to_page(prog, entry >> MIGRATE_PFN_SHIFT))
            folios.setdefault(head.value_(), f"{name}(): {var}.src[{i}] (struct migrate_vma)")


def _folio_sleepers(prog: Program) -> Dict[int, int]:
    """Task address -> folio address for every task sleeping on a folio
    (mm/filemap.c's folio_wait_table: each entry is the ``wait`` member of a
    ``struct wait_page_queue`` naming its folio)."""
    from drgn import container_of
    from drgn.helpers.linux.wait import waitqueue_for_each_entry

    out: Dict[int, int] = {}
    try:
        table = prog["folio_wait_table"]
        for i in range(len(table)):
            for entry in waitqueue_for_each_entry(table[i].address_of_()):
                wpq = container_of(entry, "struct wait_page_queue", "wait")
                out[entry.private.value_()] = wpq.folio.value_()
    except (KeyError, LookupError, FaultError, TypeError):
        pass
    return out


def _waiter_folio(prog: Program, frame: object, enricher: Enricher
                  ) -> Tuple[Optional[int], str]:
    """The folio a waiter waits on: from the wait function's entry argument,
    else from the folio wait queues."""
    target = get_target(prog)
    for var in ("entry", "folio", "page"):
        try:
            v = frame[var]  # type: ignore[index]
        except (KeyError, LookupError, ValueError):
            continue
        try:
            if var in ("folio", "page"):
                return _head(prog, v), f"{var} argument of the wait function"
            val = v.val.value_()
            ops = target.leafops
            if ops.softleaf_is_migration(val):
                pfn = ops.softleaf_to_pfn(val)
                return enricher.folio(pfn).folio, "entry argument of the wait function"
        except (FaultError, LookupError, AttributeError, ValueError, ObjectAbsentError):
            continue
    # migration_entry_wait(mm, pmd, address) and friends before they read
    # the entry: the entry that maps the faulting address now.
    try:
        mm, address = frame["mm"], frame["address"]  # type: ignore[index]
        raw = read_leaf(prog, target, mm_pgd_phys(mm), address.value_(), "pte")
        if raw is not None and not target.layout.pte_present(raw) and raw:
            entry = target.leafops.softleaf_from_pte(raw)
            if target.leafops.softleaf_is_migration(entry):
                pfn = target.leafops.softleaf_to_pfn(entry)
                return (enricher.folio(pfn).folio,
                        "the migration entry at the address argument of the wait function")
    except (KeyError, LookupError, FaultError, AttributeError, ValueError,
            ObjectAbsentError):
        pass
    return None, "not resolved (argument optimized out)"
