# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Page-table walking
------------------

Walk the page tables of an mm under each VMA, reading every page-table page
with one read, and hand out the leaf slots: whole PTE tables as
:class:`PteSlots` (dense, so that classification can work on a table at a
time) and PMD/PUD leaves as :class:`HugeLeaf`. A table that cannot be read
becomes an :class:`Unreadable` range and the walk goes on. Nothing here
decides what a leaf entry means beyond what the walk itself needs (which
upper-level entries point to tables).
"""

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from drgn import FaultError, Object, Program

from drgn_softleaf.probe import is_live
from drgn_softleaf.target import Target, get_target
from drgn_softleaf.vma import Vma, mm_vmas

__all__ = (
    "HugeLeaf",
    "NoneRange",
    "PathStep",
    "PteSlots",
    "Unreadable",
    "WalkItem",
    "mm_pgd_phys",
    "walk_mm",
    "walk_path",
    "walk_range",
)


@dataclass(frozen=True)
class PteSlots:
    """
    The slots of one PTE table that lie inside one VMA.

    :ivar base: Virtual address mapped by slot 0 of the table.
    :ivar values: All the entries of the table (a ``memoryview`` of
        64-bit values).
    :ivar first: First slot inside the VMA.
    :ivar stop: One past the last slot inside the VMA.
    :ivar table: Physical address of the table.
    """

    vma: Vma
    base: int
    values: memoryview
    first: int
    stop: int
    table: int


@dataclass(frozen=True)
class HugeLeaf:
    """A non-none PMD or PUD entry that is not a table pointer."""

    vma: Vma
    level: str
    addr: int
    size: int
    value: int
    table: int


@dataclass(frozen=True)
class NoneRange:
    """A range under a none upper-level entry (only with ``holes=True``)."""

    vma: Vma
    level: str
    start: int
    end: int


@dataclass(frozen=True)
class Unreadable:
    """A range whose page-table page could not be read."""

    vma: Optional[Vma]
    level: str
    start: int
    end: int
    table: int
    reason: str


WalkItem = Union[PteSlots, HugeLeaf, NoneRange, Unreadable]

# Reads of a page table whose parent entry changed meanwhile (live kernels)
# before the range is given up as unreadable.
_READ_ATTEMPTS = 5

# A parent entry as a walk of a live kernel remembers it: (physical
# address of the entry, its value when the table below was read, torn
# reads so far). ``None`` in a dump, whose memory does not change.
_Parent = Optional[Tuple[int, int, int]]


class _Torn(Exception):
    """A page table changed on every read (a live kernel)."""

    def __str__(self) -> str:
        return f"the page table changed on each of {_READ_ATTEMPTS} reads (live kernel)"


def _moved(prog: Program, parent: _Parent) -> Optional[int]:
    """
    The torn-read rule: after a page table was read, read the entry that
    points to it again. If it changed meanwhile (the table was freed or
    replaced on a live kernel), what was read may mix two states: return
    the entry's new value, to go again from there. ``None`` if it did not
    change (or *parent* is ``None``: a dump).

    :raises _Torn: if it changed on each of :data:`_READ_ATTEMPTS` reads.
    """
    if parent is None:
        return None
    entry_phys, value, torn = parent
    now = prog.read_u64(entry_phys, True)
    if now == value:
        return None
    if torn + 1 >= _READ_ATTEMPTS:
        raise _Torn()
    return now


class _TableReader:
    """Reads page-table pages by physical address, one read per page,
    remembering the last page read at each level."""

    def __init__(self, prog: Program, target: Target) -> None:
        self._read = prog.read
        # Bytes of a table at each level (the top one can be smaller).
        self._sizes = {name: n * 8 for (name, _), n in zip(target.level_shifts,
                                                            target.table_entries)}
        self._last: dict = {}

    def forget(self, level: str) -> None:
        """Drop the page remembered at *level* (it changed)."""
        self._last.pop(level, None)

    def read(self, level: str, phys: int) -> memoryview:
        last = self._last.get(level)
        if last is not None and last[0] == phys:
            return last[1]
        values = memoryview(self._read(phys, self._sizes[level], True)).cast("Q")
        self._last[level] = (phys, values)
        return values


class _Walk:
    """What a walk of one tree of page tables keeps at hand: the levels,
    the sizes of their tables and the layout's tests of upper entries."""

    def __init__(self, prog: Program, target: Target) -> None:
        import numpy as np

        layout = target.layout
        self.prog = prog
        self.target = target
        self.levels = target.level_shifts
        self.last = len(self.levels) - 1
        # Bytes and index bits of each level's tables (the top one can be
        # smaller than the others).
        self.sizes = [n * 8 for n in target.table_entries]
        self.nbits = [n.bit_length() - 1 for n in target.table_entries]
        self.table_present = layout.table_present
        self.entry_none = layout.pte_none
        self._table_phys = layout.table_phys
        self._phys_mask = target.physical_mask
        self.nonnone_mask = np.uint64(((1 << 64) - 1) & ~layout.none_ignore_mask)
        self.live = is_live(prog)

    def child(self, value: int) -> int:
        """The physical address of the table an upper entry points to."""
        return self._table_phys(value, self._phys_mask)

    def parent(self, table: int, index: int, value: int) -> _Parent:
        """The parent entry to re-read after reading the table that slot
        *index* of *table* points to (live kernels only)."""
        return (table + 8 * index, value, 0) if self.live else None

    def span(self, depth: int) -> int:
        """Bytes of address space one table at *depth* maps."""
        return 1 << (self.levels[depth][1] + self.nbits[depth])

    def stable_child(self, entry_phys: int, value: int) -> Tuple[int, Optional[bytes]]:
        """
        Read the PTE table a PMD entry points to under the torn-read rule
        (:func:`_moved`). Returns the entry's value and the table's bytes
        (``None`` once the entry no longer points to a table).
        """
        torn = 0
        while self.table_present(value):
            buf = self.prog.read(self.child(value), self.sizes[self.last], True)
            now = _moved(self.prog, (entry_phys, value, torn) if self.live else None)
            if now is None:
                return value, buf
            value, torn = now, torn + 1
        return value, None


def walk_range(
    prog: Program,
    pgd_phys: int,
    vmas: Sequence[Vma],
    *,
    holes: bool = False,
    target: Optional[Target] = None,
) -> Iterator[WalkItem]:
    """
    Walk the page tables rooted at *pgd_phys* under each of *vmas*.

    :param pgd_phys: Physical address of the top-level table.
    :param vmas: VMAs in address order.
    :param holes: Also yield :class:`NoneRange` for none upper-level entries.
    """
    w = _Walk(prog, get_target(prog) if target is None else target)
    if holes:
        return _walk_holes(w, pgd_phys, vmas)
    return _walk_tables(w, pgd_phys, vmas)


def _walk_holes(w: _Walk, pgd_phys: int, vmas: Sequence[Vma]) -> Iterator[WalkItem]:
    """:func:`walk_range` with holes: one VMA at a time, from the top, with
    one explicit stack instead of recursion. A table to walk is (table,
    depth, start, end, parent entry); anything else is an item to hand out.
    Children are pushed in reverse, so items come out in address order."""
    reader = _TableReader(w.prog, w.target)
    levels = w.levels
    for vma in vmas:
        stack: list = [(pgd_phys, 0, vma.start, vma.end, None)]
        while stack:
            top = stack.pop()
            if not isinstance(top, tuple):
                yield top
                continue
            phys, depth, start, end, parent = top
            level, shift = levels[depth]
            try:
                values = reader.read(level, phys)
                now = _moved(w.prog, parent)
            except (FaultError, _Torn) as e:
                reader.forget(level)
                yield Unreadable(vma, level, start, end, phys, str(e))
                continue
            if now is not None:
                # Torn: go again from the parent's new value.
                reader.forget(level)
                assert parent is not None
                up, up_shift = levels[depth - 1]
                if w.table_present(now):
                    stack.append((w.child(now), depth, start, end,
                                  (parent[0], now, parent[2] + 1)))
                elif w.entry_none(now):
                    stack.append(NoneRange(vma, up, start, end))
                else:
                    span = 1 << up_shift
                    stack.append(HugeLeaf(vma, up, start & ~(span - 1), span, now,
                                          parent[0] & ~(w.sizes[depth - 1] - 1)))
                continue
            base = start & ~(w.span(depth) - 1)
            first = (start - base) >> shift
            stop = ((end - 1 - base) >> shift) + 1
            if depth == w.last:
                yield PteSlots(vma, base, values, first, stop, phys)
                continue
            size = 1 << shift
            for i in range(stop - 1, first - 1, -1):
                v = values[i]
                lo = base + (i << shift)
                if w.entry_none(v):
                    stack.append(NoneRange(vma, level, max(start, lo), min(end, lo + size)))
                elif w.table_present(v):
                    stack.append((w.child(v), depth + 1, max(start, lo), min(end, lo + size),
                                  w.parent(phys, i, v)))
                else:
                    stack.append(HugeLeaf(vma, level, lo, size, v, phys))


class _Under:
    """The VMAs (in address order) that overlap a range."""

    def __init__(self, vmas: Sequence[Vma]) -> None:
        self.vmas = vmas
        self.ends = [v.end for v in vmas]

    def __call__(self, lo: int, hi: int) -> List[Vma]:
        import bisect

        out = []
        vmas = self.vmas
        for k in range(bisect.bisect_right(self.ends, lo), len(vmas)):
            v = vmas[k]
            if v.start >= hi:
                break
            out.append(v)
        return out


def _walk_tables(w: _Walk, pgd_phys: int, vmas: Sequence[Vma]) -> Iterator[WalkItem]:
    """
    :func:`walk_range` without holes, table by table: each table is read
    once and its non-none entries found array-wise, then matched to the
    VMAs they lie under (several VMAs can share a table), instead of one
    walk from the top per VMA. A table to walk is (table, depth, base
    address of its slot 0, parent entry); children are pushed in reverse so
    that they come out in address order.
    """
    import numpy as np

    if not vmas:
        return
    under = _Under(vmas)
    span_lo, span_hi = vmas[0].start, vmas[-1].end
    # The top-level table maps one aligned span of the address space (the
    # kernel half's addresses carry the sign-extension bits above it).
    stack: list = [(pgd_phys, 0, span_lo & ~(w.span(0) - 1), None)]
    while stack:
        top = stack.pop()
        if not isinstance(top, tuple):
            yield top
            continue
        phys, depth, base, parent = top
        level, shift = w.levels[depth]
        lo = max(span_lo, base)
        hi = min(span_hi, base + w.span(depth))
        try:
            buf = w.prog.read(phys, w.sizes[depth], True)
            now = _moved(w.prog, parent)
        except (FaultError, _Torn) as e:
            for vma in reversed(under(lo, hi)):
                stack.append(Unreadable(vma, level, max(lo, vma.start), min(hi, vma.end), phys,
                                        str(e)))
            continue
        if now is not None:
            # Torn: go again from the parent's new value.
            assert parent is not None
            if w.table_present(now):
                stack.append((w.child(now), depth, base, (parent[0], now, parent[2] + 1)))
            elif not w.entry_none(now):
                for vma in reversed(under(lo, hi)):
                    stack.append(HugeLeaf(vma, w.levels[depth - 1][0], base, w.span(depth), now,
                                          parent[0] & ~(w.sizes[depth - 1] - 1)))
            continue
        values = memoryview(buf).cast("Q")
        if depth == w.last:
            for v in reversed(under(lo, hi)):
                s_lo = max(v.start, lo)
                s_hi = min(v.end, hi)
                stack.append(PteSlots(v, base, values, (s_lo - base) >> shift,
                                      ((s_hi - 1 - base) >> shift) + 1, phys))
            continue
        first = (lo - base) >> shift
        stop = ((hi - 1 - base) >> shift) + 1
        arr = np.frombuffer(buf, dtype=np.uint64)[first:stop]
        indexes = (np.flatnonzero(arr & w.nonnone_mask) + first).tolist()
        if depth == w.last - 1:
            # The children are PTE tables (or huge leaves): handed out
            # here, in order, without going through the stack.
            yield from _pte_tables(w, under, phys, values, indexes, base, lo, hi)
            continue
        entry_size = 1 << shift
        for i in reversed(indexes):
            v = values[i]
            child = base + (i << shift)
            inside = under(max(child, lo), min(child + entry_size, hi))
            if not inside:
                continue
            if w.table_present(v):
                stack.append((w.child(v), depth + 1, child, w.parent(phys, i, v)))
            else:
                for vma in reversed(inside):
                    stack.append(HugeLeaf(vma, level, child, entry_size, v, phys))


def _pte_tables(w: _Walk, under: _Under, phys: int, values: memoryview, indexes: List[int],
                base: int, lo: int, hi: int) -> Iterator[WalkItem]:
    """The items below the non-none slots *indexes* of the PMD table at
    *phys* (slot 0 mapping *base*), in [lo, hi): each PTE table read once
    and handed out per VMA, and PMD leaves. When one VMA covers this whole
    table, no child needs looking up."""
    level, shift = w.levels[w.last - 1]
    pte_level, pte_shift = w.levels[w.last]
    entry_size = 1 << shift
    whole = under(lo, hi)
    one = whole[0] if len(whole) == 1 and whole[0].start <= lo and whole[0].end >= hi \
        else None
    for i in indexes:
        v = values[i]
        child = base + (i << shift)
        c_lo, c_hi = max(child, lo), min(child + entry_size, hi)
        inside = [one] if one is not None else under(c_lo, c_hi)
        if not w.table_present(v):
            for vma in inside:
                yield HugeLeaf(vma, level, child, entry_size, v, phys)
            continue
        child_phys = w.child(v)
        try:
            now, child_buf = w.stable_child(phys + 8 * i, v)
        except (FaultError, _Torn) as e:
            for vma in inside:
                yield Unreadable(vma, pte_level, max(c_lo, vma.start), min(c_hi, vma.end),
                                 child_phys, str(e))
            continue
        if child_buf is None:
            # (Live: the entry became a leaf, or none, meanwhile.)
            if not w.entry_none(now):
                for vma in inside:
                    yield HugeLeaf(vma, level, child, entry_size, now, phys)
            continue
        child_phys = w.child(now)
        child_values = memoryview(child_buf).cast("Q")
        for vma in inside:
            s_ = max(vma.start, c_lo)
            e_ = min(vma.end, c_hi)
            yield PteSlots(vma, child, child_values, (s_ - child) >> pte_shift,
                           ((e_ - 1 - child) >> pte_shift) + 1, child_phys)


def mm_pgd_phys(mm: Object) -> int:
    """Physical address of *mm*'s top-level page table."""
    from drgn.helpers.linux.mm import follow_phys, in_direct_map, virt_to_phys

    prog = mm.prog_
    pgd = mm.pgd.value_()
    if in_direct_map(prog, pgd):
        return virt_to_phys(prog, pgd).value_()
    # init_mm's pgd (swapper_pg_dir) is in the kernel image mapping, not
    # the direct map: translate it through the kernel page tables.
    return follow_phys(prog["init_mm"].address_of_(), pgd).value_()


def walk_mm(
    mm: Object, *, holes: bool = False, vmas: Optional[Sequence[Vma]] = None
) -> Iterator[WalkItem]:
    """
    Walk the user page tables of *mm* under its VMAs.

    >>> for item in walk_mm(find_task(prog, 1).mm):
    ...     print(item)

    :param mm: ``struct mm_struct *``
    :param holes: Also yield :class:`NoneRange` for none upper-level entries.
    :param vmas: Walk only these VMAs (default: all of *mm*'s).
    """
    prog = mm.prog_
    if vmas is None:
        vmas = mm_vmas(mm)
    return walk_range(prog, mm_pgd_phys(mm), vmas, holes=holes)


@dataclass(frozen=True)
class PathStep:
    """One level on the way down to an address."""

    level: str
    entry_phys: int
    value: int
    # "table" (points to the next level), "leaf", "none" or "unreadable".
    role: str


def walk_path(
    prog: Program, pgd_phys: int, addr: int, hugetlb: bool = False,
    target: Optional[Target] = None,
) -> List[PathStep]:
    """
    Return the entry at every level on the way down to *addr*, stopping at
    the leaf (or at a none or unreadable entry).
    """
    if target is None:
        target = get_target(prog)
    layout = target.layout
    steps: List[PathStep] = []
    table = pgd_phys
    for (level, shift), entries in zip(target.level_shifts, target.table_entries):
        index = (addr >> shift) & (entries - 1)
        entry_phys = table + 8 * index
        try:
            value = prog.read_u64(entry_phys, True)
        except FaultError:
            steps.append(PathStep(level, entry_phys, 0, "unreadable"))
            break
        if level == "pte":
            steps.append(PathStep(level, entry_phys, value,
                                  "none" if layout.pte_none(value) else "leaf"))
            break
        if layout.pte_none(value):
            steps.append(PathStep(level, entry_phys, value, "none"))
            break
        if layout.table_present(value):
            steps.append(PathStep(level, entry_phys, value, "table"))
            table = layout.table_phys(value, target.physical_mask)
            continue
        steps.append(PathStep(level, entry_phys, value, "leaf"))
        break
    return steps
