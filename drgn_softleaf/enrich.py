# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Enrichment
----------

The joins a classified leaf entry may need: the page and folio behind a pfn
(with the flags that matter to triage, read from the folio head), and the
swap device and slot behind a swap entry. Results are cached per program
for the duration of one :class:`Enricher`.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from drgn import FaultError, Object, Program

from drgn_softleaf.probe import has_member, is_live

__all__ = ("Enricher", "FolioInfo", "SwapInfo")


@dataclass(frozen=True)
class FolioInfo:
    """
    The folio behind a pfn.

    :ivar page: Address of the ``struct page`` of the pfn.
    :ivar folio: Address of the folio (head page).
    :ivar order: Folio order.
    :ivar flags: Names of the head's page flags that are set.
    :ivar error: Why the page could not be read (no memory map), else
        ``None``.
    """

    pfn: int
    page: int
    folio: int
    folio_pfn: int
    order: int
    flags: Tuple[str, ...]
    locked: bool
    waiters: bool
    hwpoison: bool
    refcount: int
    mapcount: int
    error: Optional[str] = None


@dataclass(frozen=True)
class SwapInfo:
    """
    A swap device and the slot an entry points to.

    :ivar path: The swap file or device, or ``None`` if the type is not an
        active swap device.
    :ivar count: The slot's swap count, or ``None`` if it cannot be read.
    """

    type: int
    path: Optional[str]
    active: bool
    max: Optional[int]
    count: Optional[int]
    # Why the swap device could not be read (then nothing else is known).
    error: Optional[str] = None


class Enricher:
    """Looks up folios and swap slots for one program, caching both."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        # On a live kernel a folio read a moment ago may have changed: no
        # folio cache there.
        self._cache_folios = not is_live(prog)
        self._folios: Dict[int, FolioInfo] = {}
        self._swap_devices: Dict[int, Tuple[Optional[Object], Optional[str], Optional[str]]] = {}
        self._flag_names: Optional[Tuple[Tuple[int, str], ...]] = None

    def _page_flag_names(self) -> Tuple[Tuple[int, str], ...]:
        if self._flag_names is None:
            names = []
            for name, value in self.prog.type("enum pageflags").enumerators:
                if name.startswith("__NR") or name == "NR_PAGEFLAGS":
                    continue
                names.append((value, name[3:] if name.startswith("PG_") else name))
            # Aliases share a bit; keep the first name the enum gives a bit.
            seen = set()
            uniq = []
            for value, name in names:
                if value not in seen:
                    seen.add(value)
                    uniq.append((value, name))
            self._flag_names = tuple(uniq)
        return self._flag_names

    def folio(self, pfn: int) -> FolioInfo:
        """Return the folio behind *pfn* (cached)."""
        try:
            return self._folios[pfn]
        except KeyError:
            pass
        from drgn.helpers.linux.mm import (
            compound_head,
            compound_order,
            page_flags,
            page_to_pfn,
            pfn_to_page,
        )

        prog = self.prog
        try:
            page = pfn_to_page(prog, pfn)
            head = compound_head(page)
            order = compound_order(head).value_()
            folio_pfn = page_to_pfn(head).value_()
            flags = page_flags(head).value_()
            refcount = head._refcount.counter.value_()
            mapcount = _folio_mapcount(head, order)
        except FaultError as e:
            info = FolioInfo(pfn, 0, 0, 0, 0, (), False, False, False, 0, 0,
                             error=f"no memory map for pfn {pfn:#x}: {e}")
            if self._cache_folios:
                self._folios[pfn] = info
            return info
        names = tuple(name for bit, name in self._page_flag_names() if flags & (1 << bit))
        # PG_hwpoison is per page (the page itself, not the head).
        hwpoison = False
        try:
            bit = prog.constant("PG_hwpoison").value_()
            hwpoison = bool(page_flags(page).value_() & (1 << bit))
        except (LookupError, FaultError):
            pass
        info = FolioInfo(
            pfn=pfn,
            page=page.value_(),
            folio=head.value_(),
            folio_pfn=folio_pfn,
            order=order,
            flags=names,
            locked="locked" in names,
            waiters="waiters" in names,
            hwpoison=hwpoison,
            refcount=refcount,
            mapcount=mapcount,
        )
        if self._cache_folios:
            self._folios[pfn] = info
        return info

    def _swap_device(self, type: int) -> Tuple[Optional[Object], Optional[str], Optional[str]]:
        try:
            return self._swap_devices[type]
        except KeyError:
            pass
        from drgn.helpers.linux.swap import swap_file_path

        si: Optional[Object] = None
        path: Optional[str] = None
        error: Optional[str] = None
        try:
            if "nr_swapfiles" not in self.prog:
                # No CONFIG_SWAP: there is no swap device at all.
                self._swap_devices[type] = (None, None, None)
                return None, None, None
            if type < self.prog["nr_swapfiles"].value_():
                si = self.prog["swap_info"][type].read_()
                if not si or not si.flags.value_() & 1:  # SWP_USED
                    si = None
                else:
                    path = swap_file_path(si).decode(errors="replace")
        except FaultError as e:
            si, path, error = None, None, f"swap device {type} unreadable: {e}"
        self._swap_devices[type] = (si, path, error)
        return si, path, error

    def swap(self, type: int, offset: int) -> SwapInfo:
        """Return the swap device and slot count for a swap entry."""
        si, path, error = self._swap_device(type)
        if si is None:
            return SwapInfo(type, None, False, None, None, error)
        try:
            max_: Optional[int] = si.max.value_()
        except FaultError:
            max_ = None
        count = None
        if max_ is not None and offset < max_:
            try:
                count = self._swap_count(si, offset)
            except FaultError:
                count = None
        return SwapInfo(type, path, True, max_, count)

    def _swap_count(self, si: Object, offset: int) -> Optional[int]:
        try:
            swap_map = si.swap_map
        except AttributeError:
            swap_map = None
        if swap_map is not None:
            return _swap_map_count(si, offset)
        # Since Linux 7.0 or so, counts live in per-cluster swap tables
        # (mm/swap_table.h): the top SWP_TB_COUNT_BITS of the entry.
        # SWAPFILE_CLUSTER: struct swap_table holds one entry per slot.
        cluster_pages = self.prog.type("struct swap_table").size // 8
        ci = si.cluster_info[offset // cluster_pages]
        table = ci.table.read_()
        if not table:
            return 0
        tb = self.prog.read_u64(table.value_() + 8 * (offset % cluster_pages))
        from drgn_softleaf.arch import arch_layout

        layout = arch_layout(self.prog)
        pfn_bits = layout.max_possible_physmem_bits - layout.page_shift
        has_zero = (64 - 2 - pfn_bits) > 2
        flags_bits = min(5, 64 - (pfn_bits + 2))
        count_bits = flags_bits - int(has_zero)
        if tb == 0:
            return 0
        countable = (tb & 1) or (tb & 3) == 2
        if not countable:
            return None
        count = tb >> (64 - count_bits)
        if count == (1 << count_bits) - 1 and has_member(ci, "extend_table"):
            # SWP_TB_COUNT_MAX means overflow: the count is in the cluster's
            # extend table (swap_put_entry_locked() in mm/swapfile.c:
            # "Overflow starts with SWP_TB_COUNT_MAX").
            extend = ci.extend_table.read_()
            if extend:
                return extend[offset % cluster_pages].value_()
        return count


# include/linux/swap.h, before the swap table: one byte per slot in
# si->swap_map.
SWAP_HAS_CACHE = 0x40
COUNT_CONTINUED = 0x80
SWAP_MAP_MAX = 0x3E
SWAP_CONT_MAX = 0x7F
SWAP_MAP_SHMEM = 0xBF
# Continuation pages a count may span (each adds 7 bits).
_CONTINUATION_LIMIT = 16


def _swap_map_count(si: Object, offset: int) -> Optional[int]:
    """
    A slot's swap count from ``si->swap_map``, as ``swp_swapcount()``
    (mm/swapfile.c) reads it: the byte less SWAP_HAS_CACHE; past
    SWAP_MAP_MAX the byte has COUNT_CONTINUED and the count goes on in
    continuation pages (linked by ``lru`` to the swap_map page holding the
    slot, at the same offset in each), each digit worth (SWAP_CONT_MAX + 1)
    times the one before. ``None`` for a shmem slot (SWAP_MAP_SHMEM: not a
    count) or a chain that cannot be read.

    :param si: ``struct swap_info_struct *``
    """
    from drgn.helpers.linux.list import list_next_entry
    from drgn.helpers.linux.mm import page_to_virt, vmalloc_to_page

    prog = si.prog_
    count = si.swap_map[offset].value_() & ~SWAP_HAS_CACHE
    if count == SWAP_MAP_SHMEM:
        return None
    if not count & COUNT_CONTINUED:
        return count
    count &= ~COUNT_CONTINUED
    page_size = prog["PAGE_SIZE"].value_() if "PAGE_SIZE" in prog else 4096
    try:
        head = vmalloc_to_page(prog, si.swap_map.value_() + offset)
        page = list_next_entry(head, "lru")
        n = SWAP_MAP_MAX + 1
        for _ in range(_CONTINUATION_LIMIT):
            digit = prog.read_u8(page_to_virt(page).value_() + offset % page_size)
            count += (digit & ~COUNT_CONTINUED) * n
            if not digit & COUNT_CONTINUED:
                return count
            n *= SWAP_CONT_MAX + 1
            page = list_next_entry(page, "lru")
    except (FaultError, LookupError, ValueError):
        return None
    return None


def _folio_mapcount(head: Object, order: int) -> int:
    """``folio_mapcount()``: the folio's page-table mappings."""
    try:
        if not order:
            return head._mapcount.counter.value_() + 1
        folio = _as_folio(head)
        if folio is not None and has_member(folio, "_large_mapcount"):
            # Since Linux 6.11, a large folio counts every mapping of any
            # of its pages in struct folio's _large_mapcount
            # (folio_large_mapcount() in include/linux/mm.h).
            return folio._large_mapcount.counter.value_() + 1
        if has_member(head[1], "compound_mapcount"):
            # Before, total_compound_mapcount() (mm/util.c, v6.1): the
            # whole-folio mappings plus each page's own (hugetlb: whole
            # only).
            total = head[1].compound_mapcount.counter.value_() + 1
            if not _is_hugetlb(head):
                nr = 1 << order
                total += sum(head[i]._mapcount.counter.value_() for i in range(nr)) + nr
            return total
        return 0
    except (AttributeError, FaultError, LookupError):
        return 0


def _as_folio(head: Object) -> Optional[Object]:
    """*head* (``struct page *``) as a ``struct folio *``, on kernels with
    folios."""
    try:
        return Object(head.prog_, "struct folio *", head.value_())
    except LookupError:
        return None


def _is_hugetlb(head: Object) -> bool:
    """``PageHuge()`` of the compound_dtor era (the era of
    ``compound_mapcount``): the second page's destructor is
    HUGETLB_PAGE_DTOR."""
    try:
        return head[1].compound_dtor.value_() == \
            head.prog_.constant("HUGETLB_PAGE_DTOR").value_()
    except (LookupError, FaultError, AttributeError):
        return False

