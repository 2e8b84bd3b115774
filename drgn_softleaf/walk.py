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

import collections
import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

from drgn import FaultError, Object, Program

from drgn_softleaf.target import Target, get_target, has_member

__all__ = (
    "HugeLeaf",
    "NoneRange",
    "PathStep",
    "PteSlots",
    "Unreadable",
    "Vma",
    "WalkItem",
    "mm_vmas",
    "walk_mm",
    "walk_path",
    "walk_range",
)


@dataclass(frozen=True)
class Vma:
    """
    A VMA, reduced to what leaf classification needs.

    :ivar address: Address of the ``struct vm_area_struct``.
    :ivar file: Path of the mapped file, or ``None`` for anonymous memory
        (looked up on first use: most scans never need it).
    """

    address: int
    start: int
    end: int
    flags: int
    vm_file: Optional[Object] = field(compare=False, repr=False)
    hugetlb: bool
    accessible: bool
    uffd_rwp: bool
    # A range of the kernel's own page tables (init_mm), not a VMA: there,
    # non-present entries are not softleaf entries.
    kernel: bool = False
    # VM_PFNMAP, VM_MIXEDMAP or VM_IO: may map raw pfns without a memory map.
    pfnmap: bool = False
    # A stretch of the user address range no VMA covers (triage walks it to
    # find entries outside any VMA), not a VMA.
    gap: bool = False
    prog: Optional[Program] = field(default=None, compare=False, repr=False)

    @cached_property
    def file(self) -> Optional[str]:
        return _file_path(self.vm_file)

    @cached_property
    def name(self) -> Optional[str]:
        """What /proc/PID/maps calls the VMA (drgn's ``vma_name()``): its
        file, or ``[heap]``, ``[stack]``, ``[vdso]``, ``[anon:NAME]``...;
        ``None`` for plain anonymous memory."""
        if self.prog is None or self.kernel or not self.address:
            return None
        from drgn.helpers.linux.mm import vma_name

        try:
            name = vma_name(Object(self.prog, "struct vm_area_struct *", self.address))
        except (FaultError, LookupError, ValueError, AttributeError):
            return None
        return name.decode(errors="replace") or None


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

_U64 = struct.Struct("<Q")


def _vm_flag_bit(prog: Program, name: str, default: int) -> int:
    # Since Linux 6.18 or so, VMA flags are declared as VMA_<NAME>_BIT enum
    # constants; before, they were macros with long-stable values.
    key = f"drgn_softleaf.vm_bit.{name}"
    try:
        return prog.cache[key]
    except KeyError:
        pass
    try:
        bit = prog.constant(f"VMA_{name}_BIT").value_()
    except LookupError:
        bit = default
    prog.cache[key] = bit
    return bit


def _file_path(file: Optional[Object]) -> Optional[str]:
    """The path of ``struct file *`` *file*; in a dump, looked up once per
    file (the VMAs of a process often map few files many times)."""
    from drgn import ProgramFlags
    from drgn.helpers.linux.fs import d_path

    if file is None:
        return None
    prog = file.prog_
    cache = None
    if not prog.flags & ProgramFlags.IS_LIVE:
        cache = prog.cache.setdefault("drgn_softleaf.file_paths", {})
        path = cache.get(file.value_())
        if path is not None:
            return path
    try:
        path = d_path(file.f_path).decode(errors="replace")
    except (FaultError, ValueError):
        path = "(unreadable path)"
    if cache is not None:
        cache[file.value_()] = path
    return path


def _vma_layout(prog: Program) -> Tuple[int, int, int, int, int]:
    """(size, offsets of vm_start, vm_end, vm_flags, vm_file) of struct
    vm_area_struct, cached per program: a VMA is then one read."""
    key = "drgn_softleaf.vma_layout"
    try:
        return prog.cache[key]
    except KeyError:
        pass
    from drgn import offsetof, sizeof

    t = prog.type("struct vm_area_struct")
    layout = (sizeof(t), offsetof(t, "vm_start"), offsetof(t, "vm_end"),
              offsetof(t, "vm_flags"), offsetof(t, "vm_file"))
    prog.cache[key] = layout
    return layout


_MAPLE_NODE_MASK = 255
_MAPLE_NODE_TYPE_SHIFT = 3
_MAPLE_NODE_TYPE_MASK = 0xF
# enum maple_type (include/linux/maple_tree.h).
_MAPLE_LEAF_64 = 1
_MAPLE_RANGE_64 = 2
_MAPLE_ARANGE_64 = 3
# xa_mk_internal(257) (include/linux/xarray.h).
_XA_ZERO_ENTRY = (257 << 2) | 2


def _maple_layout(prog: Program) -> Optional[dict]:
    """Where the parts of a ``struct maple_node`` are, from the debug info
    (cached); ``None`` before maple trees (Linux 6.1)."""
    key = "drgn_softleaf.maple_layout"
    try:
        return prog.cache[key]
    except KeyError:
        pass
    from drgn import offsetof, sizeof

    try:
        t = prog.type("struct maple_node")
        layout: Optional[dict] = {
            "size": sizeof(t),
            "r_pivot": offsetof(t, "mr64.pivot"),
            "r_pivots": prog.type("struct maple_range_64").member("pivot").type.length,
            "r_slot": offsetof(t, "mr64.slot"),
            "r_end": offsetof(t, "mr64.meta.end"),
            "a_pivot": offsetof(t, "ma64.pivot"),
            "a_pivots": prog.type("struct maple_arange_64").member("pivot").type.length,
            "a_slot": offsetof(t, "ma64.slot"),
            "a_end": offsetof(t, "ma64.meta.end"),
        }
    except LookupError:
        layout = None
    prog.cache[key] = layout
    return layout


def mm_vma_addresses(mm: Object) -> List[int]:
    """
    The addresses of the ``struct vm_area_struct`` of *mm*, in address
    order: the maple tree read one node at a time (one read per node, as
    drgn's ``mt_for_each()`` walks it), or drgn's ``for_each_vma()`` on
    kernels without one (the rbtree before Linux 6.1).

    :param mm: ``struct mm_struct *``
    """
    prog = mm.prog_
    layout = _maple_layout(prog)
    if layout is None or not has_member(mm, "mm_mt"):
        from drgn.helpers.linux.mm import for_each_vma

        return [vma.value_() for vma in for_each_vma(mm)]
    read = prog.read
    root = mm.mm_mt.ma_root.value_()
    if not ((root & 3) == 2 and root > 4096):  # xa_is_node()
        # A single entry at the root (or none, or a reserved internal one).
        return [root] if root and root & 3 != 2 else []
    out: List[int] = []
    queue = collections.deque(((root, (1 << 64) - 1),))
    size = layout["size"]
    while queue:
        entry, max_ = queue.popleft()
        node = entry & ~_MAPLE_NODE_MASK
        kind = (entry >> _MAPLE_NODE_TYPE_SHIFT) & _MAPLE_NODE_TYPE_MASK
        buf = read(node, size)
        if kind == _MAPLE_ARANGE_64:
            p, n, sl, e = layout["a_pivot"], layout["a_pivots"], layout["a_slot"], layout["a_end"]
        elif kind in (_MAPLE_RANGE_64, _MAPLE_LEAF_64):
            p, n, sl, e = layout["r_pivot"], layout["r_pivots"], layout["r_slot"], layout["r_end"]
        else:
            raise ValueError(f"unknown maple node type {kind} at {node:#x}")
        pivots = struct.unpack_from(f"<{n}Q", buf, p)
        slots = struct.unpack_from(f"<{n + 1}Q", buf, sl)
        # ma_data_end()
        if kind == _MAPLE_ARANGE_64 or not pivots[-1]:
            end = buf[e]
        elif pivots[-1] == max_:
            end = n - 1
        else:
            end = n
        if kind == _MAPLE_LEAF_64:
            out.extend(v for v in slots[:end + 1] if v and v != _XA_ZERO_ENTRY)
        else:
            queue.extend(zip(slots[:end + 1], pivots[:end] + (max_,)))
    return out


def mm_vmas(mm: Object) -> List[Vma]:
    """
    Return the VMAs of *mm*, in address order.

    :param mm: ``struct mm_struct *``
    """
    prog = mm.prog_
    hugetlb = 1 << _vm_flag_bit(prog, "HUGETLB", 22)
    access = (1 << _vm_flag_bit(prog, "READ", 0)) | (1 << _vm_flag_bit(prog, "WRITE", 1)) | (
        1 << _vm_flag_bit(prog, "EXEC", 2)
    )
    # VM_UFFD_RWP exists since 7.x; no bit otherwise.
    rwp_bit = _vm_flag_bit(prog, "UFFD_RWP", -1)
    rwp = 1 << rwp_bit if rwp_bit >= 0 else 0
    pfnmap = (1 << _vm_flag_bit(prog, "PFNMAP", 10)) | (1 << _vm_flag_bit(prog, "IO", 14)) | (
        1 << _vm_flag_bit(prog, "MIXEDMAP", 28))
    size, o_start, o_end, o_flags, o_file = _vma_layout(prog)
    file_type = prog.type("struct file *")
    read = prog.read
    out = []
    for address in mm_vma_addresses(mm):
        buf = read(address, size)
        start, end, flags, file = (
            _U64.unpack_from(buf, o)[0] for o in (o_start, o_end, o_flags, o_file)
        )
        out.append(
            Vma(
                address=address,
                start=start,
                end=end,
                flags=flags,
                vm_file=Object(prog, file_type, file) if file else None,
                hugetlb=bool(flags & hugetlb),
                accessible=bool(flags & access),
                uffd_rwp=bool(flags & rwp),
                pfnmap=bool(flags & pfnmap),
                prog=prog,
            )
        )
    return out


# Reads of a page table whose parent entry changed meanwhile (live kernels)
# before the range is given up as unreadable.
_READ_ATTEMPTS = 5


class _Torn(Exception):
    """A page table changed on every read (a live kernel)."""

    def __str__(self) -> str:
        return f"the page table changed on each of {_READ_ATTEMPTS} reads (live kernel)"


def _is_live(prog: Program) -> bool:
    from drgn import ProgramFlags

    return bool(prog.flags & ProgramFlags.IS_LIVE)


def _stable_child(prog: Program, entry_phys: int, value: int, size: int, table_present: Any,
                  table_phys: Any, phys_mask: int) -> Tuple[int, Optional[bytes]]:
    """
    Read the table an upper-level entry points to, then the entry again: if
    it changed meanwhile (the table was freed or replaced on a live
    kernel), what was read may mix two states, so go again from its new
    value. Returns the entry's value and the table's bytes (``None`` once
    the entry no longer points to a table).

    :raises _Torn: if it changed on every attempt.
    """
    for _ in range(_READ_ATTEMPTS):
        if not table_present(value):
            return value, None
        buf = prog.read(table_phys(value, phys_mask), size, True)
        now = prog.read_u64(entry_phys, True)
        if now == value:
            return value, buf
        value = now
    raise _Torn()


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
    if target is None:
        target = get_target(prog)
    if not holes:
        yield from _walk_tables(prog, pgd_phys, vmas, target)
        return
    layout = target.layout
    levels = target.level_shifts
    last = len(levels) - 1
    reader = _TableReader(prog, target)
    phys_mask = target.physical_mask
    # Index bits of each level's tables.
    nbits_at = [n.bit_length() - 1 for n in target.table_entries]
    table_present = layout.table_present
    table_phys = layout.table_phys
    entry_none = layout.pte_none
    import numpy as np

    nonnone_mask = np.uint64(((1 << 64) - 1) & ~layout.none_ignore_mask)

    # One explicit stack instead of recursion: a table to walk is (table,
    # depth, start, end); anything else is an item to hand out. Children
    # are pushed in reverse, so items come out in address order.
    live = _is_live(prog)
    for vma in vmas:
        # (table, depth, start, end, parent entry: see _walk_tables).
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
                if parent is not None:
                    now = prog.read_u64(parent[0], True)
                    if now != parent[1]:
                        # Torn read (see _walk_tables): go again from the
                        # parent's new value.
                        reader.forget(level)
                        if parent[2] >= _READ_ATTEMPTS:
                            raise _Torn()
                        up = levels[depth - 1][0]
                        if table_present(now):
                            stack.append((table_phys(now, phys_mask), depth, start, end,
                                          (parent[0], now, parent[2] + 1)))
                        elif entry_none(now):
                            stack.append(NoneRange(vma, up, start, end))
                        else:
                            span = 1 << levels[depth - 1][1]
                            stack.append(HugeLeaf(vma, up, start & ~(span - 1), span, now,
                                                  parent[0] & ~(8 * target.table_entries[depth - 1]
                                                                - 1)))
                        continue
            except (FaultError, _Torn) as e:
                yield Unreadable(vma, level, start, end, phys, str(e))
                continue
            span = 1 << (shift + nbits_at[depth])
            base = start & ~(span - 1)
            first = (start - base) >> shift
            stop = ((end - 1 - base) >> shift) + 1
            if depth == last:
                yield PteSlots(vma, base, values, first, stop, phys)
                continue
            size = 1 << shift
            if holes or stop - first < 16:
                indexes: Sequence[int] = range(stop - 1, first - 1, -1)
            else:
                # Most upper-level entries are none: find the others
                # array-wise.
                arr = np.frombuffer(values, dtype=np.uint64)[first:stop]
                indexes = (np.flatnonzero(arr & nonnone_mask) + first)[::-1].tolist()
            for i in indexes:
                v = values[i]
                lo = base + (i << shift)
                if entry_none(v):
                    if holes:
                        stack.append(NoneRange(vma, level, max(start, lo), min(end, lo + size)))
                elif table_present(v):
                    stack.append((table_phys(v, phys_mask), depth + 1, max(start, lo),
                                  min(end, lo + size), (phys + 8 * i, v, 0) if live else None))
                else:
                    stack.append(HugeLeaf(vma, level, lo, size, v, phys))


def _walk_tables(prog: Program, pgd_phys: int, vmas: Sequence[Vma],
                 target: Target) -> Iterator[WalkItem]:
    """
    :func:`walk_range` without holes, table by table: each table is read
    once and its non-none entries found array-wise, then matched to the
    VMAs they lie under (several VMAs can share a table), instead of one
    walk from the top per VMA.
    """
    import bisect

    import numpy as np

    if not vmas:
        return
    layout = target.layout
    levels = target.level_shifts
    last = len(levels) - 1
    # Bytes and index bits of each level's tables (the top one can be
    # smaller than the others).
    sizes = [n * 8 for n in target.table_entries]
    nbits_at = [n.bit_length() - 1 for n in target.table_entries]
    phys_mask = target.physical_mask
    nonnone_mask = np.uint64(((1 << 64) - 1) & ~layout.none_ignore_mask)
    table_present = layout.table_present
    table_phys = layout.table_phys
    entry_none = layout.pte_none
    read = prog.read
    ends = [v.end for v in vmas]
    live = _is_live(prog)

    def under(lo: int, hi: int) -> List[Vma]:
        """The VMAs that overlap [lo, hi)."""
        out = []
        for k in range(bisect.bisect_right(ends, lo), len(vmas)):
            v = vmas[k]
            if v.start >= hi:
                break
            out.append(v)
        return out

    span_lo, span_hi = vmas[0].start, vmas[-1].end
    # The top-level table maps one aligned span of the address space (the
    # kernel half's addresses carry the sign-extension bits above it).
    root_span = 1 << (levels[0][1] + nbits_at[0])
    # (table, depth, base address of its slot 0); children pushed in
    # reverse so that they come out in address order.
    # On a live kernel, each table's parent entry is (phys of the parent
    # entry, its value when read, attempts so far): None for the top.
    stack: list = [(pgd_phys, 0, span_lo & ~(root_span - 1), None)]
    while stack:
        top = stack.pop()
        if not isinstance(top, tuple):
            yield top
            continue
        phys, depth, base, parent = top
        level, shift = levels[depth]
        span = 1 << (shift + nbits_at[depth])
        size = sizes[depth]
        lo = max(span_lo, base)
        hi = min(span_hi, base + span)
        try:
            buf = read(phys, size, True)
            if parent is not None:
                # Torn read: the parent entry changed while this table was
                # read (the table was freed or replaced). Read again from
                # what the parent holds now.
                now = prog.read_u64(parent[0], True)
                if now != parent[1]:
                    if parent[2] >= _READ_ATTEMPTS:
                        raise _Torn()
                    if table_present(now):
                        stack.append((table_phys(now, phys_mask), depth, base,
                                      (parent[0], now, parent[2] + 1)))
                    elif not entry_none(now):
                        for vma in reversed(under(lo, hi)):
                            stack.append(HugeLeaf(vma, levels[depth - 1][0], base, span, now,
                                                  parent[0] & ~(sizes[depth - 1] - 1)))
                    continue
        except (FaultError, _Torn) as e:
            for vma in reversed(under(lo, hi)):
                stack.append(Unreadable(vma, level, max(lo, vma.start), min(hi, vma.end), phys,
                                        str(e)))
            continue
        values = memoryview(buf).cast("Q")
        first = (lo - base) >> shift
        stop = ((hi - 1 - base) >> shift) + 1
        if depth == last:
            for v in reversed(under(lo, hi)):
                s_lo = max(v.start, lo)
                s_hi = min(v.end, hi)
                stack.append(PteSlots(v, base, values, (s_lo - base) >> shift,
                                      ((s_hi - 1 - base) >> shift) + 1, phys))
            continue
        arr = np.frombuffer(buf, dtype=np.uint64)[first:stop]
        entry_size = 1 << shift
        indexes = (np.flatnonzero(arr & nonnone_mask) + first).tolist()
        if depth == last - 1:
            # The children are PTE tables (or huge leaves): handed out
            # here, in order, without going through the stack. When one VMA
            # covers this whole table, no child needs looking up.
            whole = under(lo, hi)
            one = whole[0] if len(whole) == 1 and whole[0].start <= lo and \
                whole[0].end >= hi else None
            pte_shift = levels[last][1]
            for i in indexes:
                v = values[i]
                child = base + (i << shift)
                c_lo, c_hi = max(child, lo), min(child + entry_size, hi)
                inside = [one] if one is not None else under(c_lo, c_hi)
                if table_present(v):
                    child_phys = table_phys(v, phys_mask)
                    try:
                        if live:
                            now, child_buf = _stable_child(prog, phys + 8 * i, v,
                                                           sizes[last], table_present,
                                                           table_phys, phys_mask)
                            if child_buf is None:
                                if not entry_none(now):
                                    for vma in inside:
                                        yield HugeLeaf(vma, level, child, entry_size, now,
                                                       phys)
                                continue
                            child_phys = table_phys(now, phys_mask)
                        else:
                            child_buf = read(child_phys, sizes[last], True)
                        child_values = memoryview(child_buf).cast("Q")
                    except (FaultError, _Torn) as e:
                        for vma in inside:
                            yield Unreadable(vma, levels[last][0], max(c_lo, vma.start),
                                             min(c_hi, vma.end), child_phys, str(e))
                        continue
                    for vma in inside:
                        s_ = max(vma.start, c_lo)
                        e_ = min(vma.end, c_hi)
                        yield PteSlots(vma, child, child_values, (s_ - child) >> pte_shift,
                                       ((e_ - 1 - child) >> pte_shift) + 1, child_phys)
                else:
                    for vma in inside:
                        yield HugeLeaf(vma, level, child, entry_size, v, phys)
            continue
        for i in reversed(indexes):
            v = values[i]
            child = base + (i << shift)
            inside = under(max(child, lo), min(child + entry_size, hi))
            if not inside:
                continue
            if table_present(v):
                stack.append((table_phys(v, phys_mask), depth + 1, child,
                               (phys + 8 * i, v, 0) if live else None))
            else:
                for vma in reversed(inside):
                    stack.append(HugeLeaf(vma, level, child, entry_size, v, phys))


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
