# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Live kernels
------------

On a live kernel (``/proc/kcore``) the kernel runs on while it is read, and
no read is atomic with the next: a page-table entry read now and the folio
it names read a moment later can belong to two different states
(``migrate_folio_move()`` in mm/migrate.c removes the migration entries and
only then unlocks the folio, so an entry read before and a folio read after
look like a leak). This module reads what belongs together consistently and
confirms a finding by reading it again after a pause: only a state that
persists unchanged is a finding; the rest is counted as transient.

Nothing here applies to a vmcore, whose memory does not change.

>>> confirm_all([(state, read_state)], confirmations=3, interval=0.5)
[Confirmation(persisted=True, reads=4, seconds=1.5, change=None)]
"""

import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

from drgn import FaultError, Program

from drgn_softleaf.target import Target

__all__ = (
    "Confirmation",
    "DEFAULT_CONFIRMATIONS",
    "DEFAULT_INTERVAL",
    "confirm_all",
    "consistent",
    "read_leaf",
)

# How many times a finding on a live kernel is read again, and how long to
# wait before each read. A migration in flight replaces its entries within
# milliseconds (the live harness's churn test: contrib/live); a leaked
# entry stays until the process exits.
DEFAULT_CONFIRMATIONS = 3
DEFAULT_INTERVAL = 0.5
# Attempts at a consistent read (the entry, what it names, the entry again)
# before giving up on a state that keeps changing.
READ_ATTEMPTS = 5

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Confirmation:
    """
    How a finding made on a live kernel held up when read again.

    :ivar persisted: Every read gave the state the finding was made from.
    :ivar reads: Reads of that state, the first (the scan's) included, up
        to the one that differed.
    :ivar seconds: From the scan's read to the last read.
    :ivar change: What the read that refuted the finding saw instead.
    """

    persisted: bool
    reads: int
    seconds: float
    change: Optional[str] = None

    def text(self) -> str:
        """``"persisted 1.5 s over 4 reads"`` or ``"refuted ..."``."""
        if self.persisted:
            return f"persisted {self.seconds:.1f} s over {self.reads} reads"
        return f"refuted on read {self.reads + 1} ({self.change})"


def confirm_all(
    candidates: Sequence[Tuple[T, Callable[[], Optional[T]]]],
    confirmations: int = DEFAULT_CONFIRMATIONS,
    interval: float = DEFAULT_INTERVAL,
    started: Optional[float] = None,
) -> List[Confirmation]:
    """
    Read each candidate's state again *confirmations* times, *interval*
    seconds apart, all candidates in the same rounds (so the whole
    confirmation takes about ``confirmations * interval`` seconds however
    many candidates there are). A candidate persists if every read returns
    its expected state; the first read that does not (or that cannot be
    made: ``None``) refutes it.

    :param candidates: (expected state, function reading the state now).
    :param started: ``time.monotonic()`` of the scan's read (default: now).
    """
    start = time.monotonic() if started is None else started
    results: List[Optional[Confirmation]] = [None] * len(candidates)
    for n in range(confirmations):
        if all(r is not None for r in results):
            break
        time.sleep(interval)
        for i, (expected, read) in enumerate(candidates):
            if results[i] is not None:
                continue
            try:
                now = read()
            except (FaultError, ValueError, LookupError) as e:
                # Kernel data that changed into something unreadable (a
                # freed mm, a maple node being rewritten).
                now, why = None, f"unreadable: {e}"
            else:
                why = "cannot be read consistently" if now is None else _difference(expected, now)
            if now != expected:
                results[i] = Confirmation(False, n + 1, time.monotonic() - start, why)
    end = time.monotonic() - start
    return [r if r is not None else Confirmation(True, confirmations + 1, end)
            for r in results]


def _difference(expected: Any, now: Any) -> str:
    """Name the first field that differs between two states (tuples of
    ``(name, value)`` pairs, or anything else)."""
    if isinstance(expected, tuple) and isinstance(now, tuple) and len(expected) == len(now):
        for a, b in zip(expected, now):
            if a != b:
                if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str):
                    return f"{a[0]} {_show(a[1])} -> {_show(b[1] if isinstance(b, tuple) else b)}"
                return _difference(a, b)
    return f"{_show(expected)} -> {_show(now)}"


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return str(value)


def consistent(
    read_entry: Callable[[], T],
    read_rest: Callable[[T], R],
    attempts: int = READ_ATTEMPTS,
) -> Optional[Tuple[T, R]]:
    """
    Read an entry, what it names, and the entry again, until both reads of
    the entry agree: then what was read in between belongs to that entry's
    state. ``None`` if the entry changed on every attempt.
    """
    entry = read_entry()
    for _ in range(attempts):
        rest = read_rest(entry)
        again = read_entry()
        if again == entry:
            return entry, rest
        entry = again
    return None


def read_leaf(prog: Program, target: Target, pgd_phys: int, addr: int,
              level: str) -> Optional[int]:
    """
    The value of the entry that maps *addr* at *level*, read from the top
    table down; ``None`` when the walk no longer reaches that level (a table
    on the way was freed or replaced).
    """
    from drgn_softleaf.walk import walk_path

    for step in walk_path(prog, pgd_phys, addr, target=target):
        if step.level == level:
            return step.value if step.role in ("leaf", "none") else None
    return None
