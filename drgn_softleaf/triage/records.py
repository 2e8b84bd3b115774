# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Triage records
--------------

What a triage scan reports, as plain records: the tasks it names, the
entries holding a folio under migration, the folios with their verdicts,
the waiters, the impossible states and the counter checks, the findings a
live kernel refuted, and the report that holds them all. Nothing here reads
the kernel.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple

from drgn_softleaf.enrich import FolioInfo
from drgn_softleaf.live import Confirmation

__all__ = (
    "Anomaly",
    "CounterCheck",
    "CounterKey",
    "Holder",
    "LeakReport",
    "MigrationFolio",
    "Migrator",
    "Task",
    "Transient",
    "Waiter",
)


@dataclass(frozen=True)
class Task:
    """A task, as the report names it."""

    pid: int
    comm: str
    state: str
    address: int


@dataclass(frozen=True)
class Holder:
    """A page-table entry that is a migration entry for a folio."""

    pid: int
    comm: str
    mm: int
    addr: int
    level: str
    raw: int
    kind: str
    pfn: int


@dataclass(frozen=True)
class Waiter:
    """A task in the migration wait or fault path."""

    task: Task
    function: str
    # The folio it waits on, when it can be resolved.
    folio: Optional[int]
    how: str


@dataclass(frozen=True)
class MigrationFolio:
    """
    A folio that migration entries point to, with its verdict:
    ``in-flight`` (locked, and a migrating task exists), ``stuck`` (locked,
    but no migrating task, or the folio is not what the entries say),
    ``leaked`` (not locked: nothing will ever remove the entries) or
    ``unknown`` (locked, no migrator found, but some task stacks could not
    be unwound, so a migrator cannot be ruled out: not a finding).

    :ivar confirmation: On a live kernel, how the finding held up when read
        again (``None`` on a vmcore, and for folios that are not findings).
    """

    folio: FolioInfo
    anon: Optional[bool]
    mapping: int
    index: Optional[int]
    holders: Tuple[Holder, ...]
    identity_problems: Tuple[str, ...]
    migrators: Tuple[Task, ...]
    waiters: Tuple[Waiter, ...]
    verdict: str
    confirmation: Optional[Confirmation] = None
    # What the verdict rests on, one line per fact (rule, task and frame,
    # fields).
    evidence: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Anomaly:
    """An entry or counter in a state the kernel never leaves it in."""

    what: str
    detail: str
    pid: Optional[int] = None
    comm: Optional[str] = None
    addr: Optional[int] = None
    level: Optional[str] = None
    raw: Optional[int] = None
    # The address space the entry is in (struct mm_struct *), to read it again.
    mm: Optional[int] = field(default=None, compare=False)
    confirmation: Optional[Confirmation] = None


@dataclass(frozen=True)
class CounterKey:
    """
    Which kernel counter a :class:`CounterCheck` is about, to read it
    again (never shown: the check's text says it for the reader).

    :ivar counter: ``"mm_swapents"`` (an mm's MM_SWAPENTS) or
        ``"swap_inuse"`` (a swap device's in-use slots).
    :ivar mm: For ``"mm_swapents"``: the ``struct mm_struct *``.
    :ivar swap_type: For ``"swap_inuse"``: the swap device's type.
    """

    counter: Literal["mm_swapents", "swap_inuse"]
    mm: Optional[int] = None
    swap_type: Optional[int] = None


@dataclass(frozen=True)
class CounterCheck:
    """A kernel counter compared with what the page tables hold."""

    what: str
    counter: int
    found: int
    # None: not checked (the page tables could not all be read).
    ok: Optional[bool]
    note: str = ""
    confirmation: Optional[Confirmation] = None
    # Which counter, to read it again (live confirmation).
    key: Optional[CounterKey] = field(default=None, compare=False)


@dataclass(frozen=True)
class Transient:
    """A finding of a live scan that reading it again refuted: the state
    was read while it changed (not a finding, never in the exit status)."""

    what: str
    detail: str
    confirmation: Confirmation


@dataclass
class LeakReport:
    """Everything :func:`~drgn_softleaf.triage.scan_leaks` found."""

    address_spaces: int = 0
    entries: int = 0
    folios: List[MigrationFolio] = field(default_factory=list)
    waiters: List[Waiter] = field(default_factory=list)
    anomalies: List[Anomaly] = field(default_factory=list)
    counters: List[CounterCheck] = field(default_factory=list)
    unreadable: List[Tuple[int, str, int, int, str]] = field(default_factory=list)
    wait_functions: Tuple[str, ...] = ()
    # Whether task stacks were examined for migrators and waiters (not
    # when no page table holds a migration entry).
    tasks_examined: bool = True
    # Tasks whose stacks could not be unwound (on a live kernel: every
    # running task), so they can be neither migrators nor waiters for sure.
    unwind_failed: List[Task] = field(default_factory=list)
    # A live kernel: findings were confirmed by reading them again.
    live: bool = False
    confirmations: int = 0
    interval: float = 0.0
    # Findings that reading again refuted.
    transient: List[Transient] = field(default_factory=list)
    # Address spaces not scanned, and why: (pid, comm, reason).
    left_out: List[Tuple[int, str, str]] = field(default_factory=list)

    @property
    def findings(self) -> int:
        """Leaked or stuck folios, anomalies and failed counter checks."""
        return (
            sum(f.verdict in ("leaked", "stuck") for f in self.folios)
            + len(self.anomalies)
            + sum(c.ok is False for c in self.counters)
        )

    @property
    def incomplete(self) -> bool:
        return bool(self.unreadable)


@dataclass(frozen=True)
class Migrator:
    """
    A task that holds folios under migration entries, and which ones.

    :ivar folios: Folio address -> how this task holds it (the frame and
        variable or list that names it).
    :ivar complete: Whether *folios* is all it holds (its batch lists were
        read); if not, it may hold folios it does not name.
    """

    task: Task
    folios: Dict[int, str]
    complete: bool
