# SPDX-License-Identifier: LGPL-2.1-or-later
"""
VMAs
----

Reading an mm's VMAs: the maple tree one node per read (the rbtree before
Linux 6.1 through drgn), each ``struct vm_area_struct`` in one read, its
flags by the kernel's names, and what /proc/PID/maps calls it. The gaps
between VMAs are pseudo-VMAs too, so that a walk can look for entries no
VMA covers.
"""

import collections
import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import List, Optional, Sequence, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.probe import has_member, is_live

__all__ = ("Vma", "mm_vma_addresses", "mm_vmas", "vma_gaps")


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
    from drgn.helpers.linux.fs import d_path

    if file is None:
        return None
    prog = file.prog_
    cache = None
    if not is_live(prog):
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


def vma_gaps(vmas: Sequence[Vma], task_size: int) -> List[Vma]:
    """Pseudo-VMAs (:attr:`Vma.gap`) covering the user address range below
    *task_size* that no VMA of *vmas* (in address order) covers."""
    gaps = []
    prev = 0
    for v in vmas:
        if v.start > prev:
            gaps.append(Vma(0, prev, v.start, 0, None, False, True, False, gap=True))
        prev = max(prev, v.end)
    if prev < task_size:
        gaps.append(Vma(0, prev, task_size, 0, None, False, True, False, gap=True))
    return gaps
