# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Rendering
---------

Rich tables for people and JSON for scripts. The only module that imports
rich. One :class:`rich.console.Console` is made by :func:`make_console` and
passed in; it honours ``NO_COLOR`` and, when not writing to a terminal, uses
a fixed wide width so that addresses are never cut.
"""

import json
import os
import sys
from collections import Counter
from typing import IO, Any, Dict, Iterable, List, Optional, Sequence, Tuple

from rich.console import Console
from rich.table import Table
from rich.text import Text

from drgn_softleaf.classify import KIND_ORDER, Kind
from drgn_softleaf.scan import AddressSpace, Enriched
from drgn_softleaf.walk import Vma

__all__ = (
    "JSON_SCHEMA_VERSION",
    "entry_json",
    "make_console",
    "render_addr",
    "render_decode",
    "render_entries",
    "render_summary",
    "render_vmas",
    "write_json_line",
)

# Version of the JSON schema (README: "JSON Lines schema"). 2: per-entry
# anomalies, pointers also as hex strings.
JSON_SCHEMA_VERSION = 2

# Width used when output is not a terminal: wide enough for every table.
PIPE_WIDTH = 200


class _Console(Console):
    """A console that reports a closed pipe (``| head``, ``q`` in a pager)
    as :class:`BrokenPipeError` to the command, instead of rich's default of
    exiting the process, which would end the user's drgn session."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("output closed")


def make_console(file: Optional[IO[str]] = None, width: Optional[int] = None) -> Console:
    """
    Make the console for one command. *file* defaults to the current
    ``sys.stdout`` (looked up now, so drgn's ``> file`` and ``| pipe``
    work).
    """
    if file is None:
        file = sys.stdout
    try:
        is_tty = file.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    if width is None and not is_tty:
        width = PIPE_WIDTH
    return _Console(
        file=file,
        width=width,
        no_color="NO_COLOR" in os.environ or not is_tty,
        highlight=False,
        soft_wrap=False,
        force_terminal=False if not is_tty else None,
    )


def _longest_word(texts: Iterable[Text]) -> int:
    return max((len(w) for t in texts for w in t.plain.split()), default=1)


def _counts_text(kinds: Sequence[Kind], counts: Counter, impossible: int = 0) -> Text:
    parts = [f"{k.value}={counts[k]}" for k in kinds if counts[k]]
    if impossible:
        parts.append(f"IMPOSSIBLE={impossible}")
    return Text(" ".join(parts) or "-")


def _addr_column(table: Table, name: str) -> None:
    table.add_column(name, justify="right", no_wrap=True)


def _kind_columns(counters: Iterable[Counter]) -> List[Kind]:
    seen: Counter = Counter()
    for c in counters:
        seen.update(c)
    always = (Kind.PRESENT, Kind.SWAP)
    return [k for k in KIND_ORDER if k != Kind.NONE and (k in always or seen[k])]


# The entries table: a column between columns, and the widths of its
# fixed columns by default: the mark, ADDRESS and RAW (a 64-bit value in
# hex), LEVEL and KIND (the longest kind name).
_GAP = "  "
_MARK_W = 1
_ADDR_W = 18
_LEVEL_W = 5
_KIND_W = max(len(k.value) for k in Kind)
# Below this many columns for DETAILS, details go on a line of their own.
_MIN_DETAILS_W = 30
# Rows per write: the first rows at once, then larger chunks.
_FIRST_CHUNK = 16
_CHUNK = 512


def _anomaly_text(anomalies: Sequence[Any]) -> str:
    return "; ".join(f"IMPOSSIBLE ({a.what}): {a.detail}" for a in anomalies)


def _wrap(text: str, width: int) -> List[str]:
    """Cut *text* into lines of at most *width* characters, at "; " or
    spaces where possible (never inside a number if it fits a line)."""
    if len(text) <= width:
        return [text]
    import textwrap

    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


class _Lines:
    """Writes lines to a console in chunks: plain text when the console is
    not a terminal (fast, nothing added), styled through rich on a
    terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.plain = not console.is_terminal
        self.buf: List[Tuple[str, Optional[str]]] = []
        self.limit = _FIRST_CHUNK

    def add(self, line: str, style: Optional[str] = None) -> None:
        self.buf.append((line, style))
        if len(self.buf) >= self.limit:
            self.flush()
            self.limit = _CHUNK

    def row(self, fixed: str, free: str, free_w: Optional[int], indent: str,
            style: Optional[str] = None) -> None:
        """
        A table row: its fixed columns, then *free* text wrapped in
        *free_w* columns under its header and continued at *indent*, or
        (*free_w* ``None``: a narrow console) on indented lines of its own.
        """
        if free_w is None:
            self.add(fixed.rstrip(), style)
            width = max(self.console.width - len(indent), 20)
            for part in _wrap(free, width) if free else ():
                self.add(indent + part, style)
            return
        parts = _wrap(free, free_w) if free else [""]
        self.add((fixed + _GAP + parts[0]).rstrip(), style)
        for part in parts[1:]:
            self.add(indent + part, style)

    def flush(self) -> None:
        if not self.buf:
            return
        if self.plain:
            file = self.console.file
            file.write("".join(line + "\n" for line, _ in self.buf))
            file.flush()
        else:
            for line, style in self.buf:
                self.console.print(Text(line, style=style or ""), soft_wrap=True)
        self.buf = []


def _column_widths(columns: Sequence[Tuple[str, str]],
                   rows: Sequence[Tuple[Sequence[str], str, Optional[str]]]) -> List[int]:
    return [max([len(h)] + [len(r[0][i]) for r in rows]) for i, (h, _) in enumerate(columns)]


def _grid_width(columns: Sequence[Tuple[str, str]],
                rows: Sequence[Tuple[Sequence[str], str, Optional[str]]]) -> int:
    """The width of the fixed columns of a :func:`_grid`."""
    return sum(_column_widths(columns, rows)) + len(_GAP) * len(columns) + 1


def _grid(console: Console, title: Optional[str], columns: Sequence[Tuple[str, str]],
          rows: Sequence[Tuple[Sequence[str], str, Optional[str]]],
          free_header: str = "") -> None:
    """
    Print a table whose cells are never cut: each of *columns* (header,
    ``"<"`` or ``">"``) as wide as its widest cell, then one free-text
    column that wraps in the width left, or, when less than
    :data:`_MIN_DETAILS_W` is left, on indented lines of its own. When even
    the columns do not fit, each row becomes ``HEADER=value`` words,
    wrapped. *rows*: (cells, free text, style).
    """
    widths = _column_widths(columns, rows)
    fixed = sum(widths) + len(_GAP) * len(widths) + 1
    free_w = console.width - fixed
    narrow = free_w < _MIN_DETAILS_W
    out = _Lines(console)
    if title:
        out.add(title, "bold")
    if fixed > console.width:
        names = [h.replace(" ", "_") for h, _ in columns]
        for cells, free, style in rows:
            words = " ".join(f"{n}={c}" for n, c in zip(names, cells) if c)
            for i, part in enumerate(_wrap(words, console.width - 1)):
                out.add((" " if i == 0 else "   ") + part, style)
            for part in _wrap(free, console.width - 4) if free else ():
                out.add("    " + part, style)
        out.flush()
        return

    def line(cells: Sequence[str]) -> str:
        return " " + _GAP.join(c.rjust(w) if j == ">" else c.ljust(w)
                               for c, w, (_, j) in zip(cells, widths, columns))

    out.add((line([h for h, _ in columns])
             + ("" if narrow or not free_header else _GAP + free_header)).rstrip(), "bold")
    indent = " " * (4 if narrow else fixed)
    for cells, free, style in rows:
        out.row(line(cells), free, None if narrow else free_w, indent, style)
    out.flush()


def render_summary(console: Console,
                   rows: Sequence[Tuple[AddressSpace, int, Counter, Counter]]) -> None:
    """
    One row per address space: counts of leaf entries per kind, and of
    impossible entries (a column only when there are any). When the kind
    columns do not fit the console, kind=count pairs in a COUNTS column.
    """
    kinds = _kind_columns(c for _, _, c, _ in rows)
    any_impossible = any(sum(i.values()) for _, _, _, i in rows)
    totals: Counter = Counter()
    impossible_total = 0
    for _, _, counts, impossible in rows:
        totals.update(counts)
        impossible_total += sum(impossible.values())
    title = "Leaf entries per process"
    base = [("PID", ">"), ("COMM", "<"), ("VMAS", ">")]
    wide_cols = base + [(k.value.upper(), ">") for k in kinds] + (
        [("IMPOSSIBLE", ">")] if any_impossible else [])
    wide_rows = []
    compact_rows = []
    for space, nvmas, counts, impossible in rows:
        n = sum(impossible.values())
        style = "bold" if n else None
        head = [str(space.pid), space.comm, str(nvmas)]
        wide_rows.append((head + [str(counts[k]) for k in kinds]
                          + ([str(n)] if any_impossible else []), "", style))
        compact_rows.append((head, _counts_text(kinds, counts, n).plain, style))
    if _grid_width(wide_cols, wide_rows) <= console.width:
        _grid(console, title, wide_cols, wide_rows, "")
    else:
        _grid(console, title, base, compact_rows, "COUNTS")
    out = _Lines(console)
    for line in _wrap(f"{len(rows)} address spaces: "
                      + _counts_text(kinds, totals, impossible_total).plain, console.width):
        out.add(line)
    out.flush()


def _vma_flags_text(flags: int) -> str:
    return "".join(
        c if flags & bit else "-" for c, bit in (("r", 1), ("w", 2), ("x", 4), ("s", 8))
    )


def render_vmas(console: Console, space: AddressSpace,
                rows: Sequence[Tuple[Vma, Counter, Counter]]) -> None:
    """
    One row per VMA: its range, flags, counts per kind and name (its file,
    or ``[heap]``, ``[stack]``...). When the kind columns do not fit the
    console, kind=count pairs go before the name.
    """
    kinds = _kind_columns(c for _, c, _ in rows)
    any_impossible = any(sum(i.values()) for _, _, i in rows)
    title = f"VMAs of PID {space.pid} ({space.comm})"
    base = [("START", ">"), ("END", ">"), ("FLAGS", "<")]
    wide_cols = base + [(k.value.upper(), ">") for k in kinds] + (
        [("IMPOSSIBLE", ">")] if any_impossible else [])
    wide_rows = []
    compact_rows = []
    for vma, counts, impossible in rows:
        n = sum(impossible.values())
        style = "bold" if n else None
        head = [f"{vma.start:#x}", f"{vma.end:#x}",
                _vma_flags_text(vma.flags) + (" hugetlb" if vma.hugetlb else "")]
        name = vma.name or ""
        wide_rows.append((head + [str(counts[k]) for k in kinds]
                          + ([str(n)] if any_impossible else []), name, style))
        compact_rows.append((head, (_counts_text(kinds, counts, n).plain + "  " + name).strip(),
                             style))
    if _grid_width(wide_cols, wide_rows) + _MIN_DETAILS_W <= console.width:
        _grid(console, title, wide_cols, wide_rows, "NAME")
    else:
        _grid(console, title, base, compact_rows, "COUNTS  NAME")


def _details(e: Enriched) -> str:
    entry = e.entry
    parts: List[str] = []
    if entry.kind == Kind.SWAP:
        parts.append(f"type {entry.swap_type} offset {entry.swap_offset:#x}")
        if e.swap is not None:
            parts.append(e.swap.path or e.swap.error or "(no such swap device)")
            if e.swap.count is not None:
                parts.append(f"count {e.swap.count}")
    elif entry.pfn is not None:
        parts.append(f"pfn {entry.pfn:#x}")
    if entry.protnone:
        parts.append(f"protnone ({entry.protnone_reason})" if entry.protnone_reason
                     else "protnone")
    if entry.marker:
        parts.append("marker " + ",".join(entry.marker))
    if entry.mig_young:
        parts.append("young")
    if entry.mig_dirty:
        parts.append("dirty")
    if entry.writable is not None:
        parts.append("writable" if entry.writable else "read-only")
    if entry.flags:
        parts.append("flags " + ",".join(entry.flags))
    if e.folio is not None:
        f = e.folio
        if f.error:
            parts.append(f.error)
        else:
            parts.append(
                f"folio {f.folio:#x} order {f.order}"
                + (" locked" if f.locked else " unlocked")
            )
    if entry.note:
        parts.append(entry.note)
    return "; ".join(parts)


def render_entries(console: Console, space: AddressSpace, entries: Iterable[Enriched],
                   kinds: Optional[Iterable[Kind]] = None, max_addr: Optional[int] = None) -> int:
    """
    List leaf entries as they come (the first rows at once, in bounded
    memory, however many entries there are); return how many were listed.
    Impossible entries are marked ``!`` with the reason first in DETAILS.
    Nothing is ever cut: DETAILS wraps under its column, or on narrow
    consoles goes on indented lines of its own.

    :param kinds: The kinds that may be listed (default: all), and
        *max_addr* the highest address that may be: they size the columns.
    """
    out = _Lines(console)
    width = console.width
    kind_w = max(len(k.value) for k in kinds) if kinds else _KIND_W
    addr_w = max(len("ADDRESS"), len(f"{max_addr:#x}")) if max_addr is not None else _ADDR_W
    fixed_w = _MARK_W + addr_w + _LEVEL_W + kind_w + _ADDR_W + 5 * len(_GAP)
    details_w = width - fixed_w
    narrow = details_w < _MIN_DETAILS_W
    out.add(f"Leaf entries of PID {space.pid} ({space.comm})", "bold")
    head = _GAP.join((" " * _MARK_W, "ADDRESS".rjust(addr_w), "LEVEL".ljust(_LEVEL_W),
                      "KIND".ljust(kind_w), "RAW".rjust(_ADDR_W)))
    out.add(head + (_GAP + "DETAILS" if not narrow else ""), "bold")
    n = impossible = 0
    indent = " " * (fixed_w if not narrow else 4)
    for e in entries:
        entry = e.entry
        details = _details(e)
        if e.anomalies:
            impossible += 1
            details = _anomaly_text(e.anomalies) + ("; " + details if details else "")
        row = _GAP.join(("!" if e.anomalies else " ", f"{entry.addr:#x}".rjust(addr_w),
                         entry.level.ljust(_LEVEL_W), entry.kind.value.ljust(kind_w),
                         f"{entry.raw:#018x}"))
        out.row(row, details, None if narrow else details_w, indent,
                "bold" if e.anomalies else None)
        n += 1
    out.add(f"{n} entries" + (f"; {impossible} IMPOSSIBLE (marked !)" if impossible else ""))
    out.flush()
    return n


def render_decode(console: Console, value: int, entries: Sequence[Tuple[str, Enriched]]) -> None:
    """Show what *value* means at each level it was decoded for."""
    table = Table(title=f"{value:#018x}", title_justify="left", box=None, header_style="bold")
    table.add_column("AS", no_wrap=True)
    table.add_column("KIND", no_wrap=True)
    table.add_column("DETAILS", overflow="fold")
    for label, e in entries:
        # A value that is no leaf at some level is shown as invalid there,
        # with why; decoding it is no finding.
        anomalies = [a for a in e.anomalies if a.what != "invalid"]
        details = "; ".join(filter(None, (_anomaly_text(anomalies), _details(e))))
        table.add_row(label, e.entry.kind.value, Text(details),
                      style="bold" if anomalies else None)
    console.print(table)


def render_addr(console: Console, space: AddressSpace, addr: int,
                path: Sequence[Tuple[str, int, int, Optional[str]]],
                leaf: Optional[Enriched], vma: Optional[Vma], layout: Any) -> None:
    """
    Show the entry at every level on the way to *addr* (with its bits, as
    the architecture names them) and its leaf: decoded, the physical
    address of the byte for a present page and the folio behind it.
    """
    console.print(Text(f"PID {space.pid} ({space.comm}) address {addr:#x}"))
    if vma is None:
        console.print("not inside any VMA")
    else:
        console.print(Text(f"VMA {vma.start:#x}-{vma.end:#x} {_vma_flags_text(vma.flags)} "
                           f"{vma.name or '(anonymous)'}"))
    table = Table(box=None, header_style="bold")
    table.add_column("LEVEL", no_wrap=True)
    _addr_column(table, "ENTRY (PHYS)")
    _addr_column(table, "VALUE")
    table.add_column("ROLE", no_wrap=True)
    table.add_column("BITS", overflow="fold")
    for level, entry_phys, value, what in path:
        present = what in ("table", "leaf") and (
            level == "pte" and layout.pte_present(value)
            or level != "pte" and layout.pmd_present(value))
        bits = " ".join(layout.entry_bit_names(value, level)) if present else ""
        table.add_row(level, f"{entry_phys:#x}", f"{value:#018x}", what or "", bits)
    console.print(table)
    if leaf is None:
        return
    entry = leaf.entry
    console.print(Text(f"leaf: {entry.level} {entry.kind.value} at {entry.addr:#x} "
                       f"size {entry.size:#x}: {_details(leaf)}"))
    for a in leaf.anomalies:
        console.print(Text(f"IMPOSSIBLE ({a.what}): {a.detail}", style="bold"))
    if entry.kind == Kind.PRESENT and entry.pfn is not None:
        shift = layout.page_shift
        phys = (entry.pfn << shift) + (addr - entry.addr)
        console.print(Text(f"physical address: {phys:#x} (pfn {phys >> shift:#x} offset "
                           f"{phys & ((1 << shift) - 1):#x})"))
    f = leaf.folio
    if f is not None and not f.error:
        console.print(Text(
            f"folio {f.folio:#x} pfn {f.folio_pfn:#x} order {f.order}; page {f.page:#x}; "
            f"refcount {f.refcount}; mapcount {f.mapcount}; flags {','.join(f.flags) or '-'}"))


def entry_json(space: AddressSpace, e: Enriched) -> Dict[str, Any]:
    """The JSON object for one leaf entry (schema in the README)."""
    entry = e.entry
    vma = entry.vma
    out: Dict[str, Any] = {
        "schema": JSON_SCHEMA_VERSION,
        "pid": space.pid,
        "comm": space.comm,
        "addr": entry.addr,
        "addr_hex": f"{entry.addr:#x}",
        "size": entry.size,
        "level": entry.level,
        "raw": entry.raw,
        "raw_hex": f"{entry.raw:#018x}",
        "kind": entry.kind.value,
        "vma_start": vma.start if vma else None,
        "vma_start_hex": f"{vma.start:#x}" if vma else None,
        "vma_end": vma.end if vma else None,
        "vma_end_hex": f"{vma.end:#x}" if vma else None,
        "vma_flags": vma.flags if vma else None,
        "vma_file": vma.file if vma else None,
    }
    kind = entry.kind
    if kind == Kind.PRESENT:
        out["pfn"] = entry.pfn
        out["protnone"] = entry.protnone
        if entry.protnone:
            out["protnone_reason"] = entry.protnone_reason
    elif kind == Kind.SWAP:
        out["swap_type"] = entry.swap_type
        out["swap_offset"] = entry.swap_offset
        out["swap_file"] = e.swap.path if e.swap else None
        out["swap_count"] = e.swap.count if e.swap else None
        if e.swap and e.swap.error:
            out["swap_error"] = e.swap.error
    elif kind.has_pfn:
        out["pfn"] = entry.pfn
        f = e.folio
        out["folio"] = f.folio if f and not f.error else None
        out["folio_hex"] = f"{f.folio:#x}" if f and not f.error else None
        out["folio_order"] = f.order if f and not f.error else None
        out["folio_locked"] = f.locked if f and not f.error else None
        if f and f.error:
            out["folio_error"] = f.error
        if kind.is_migration:
            out["mig_young"] = entry.mig_young
            out["mig_dirty"] = entry.mig_dirty
    elif kind == Kind.MARKER:
        out["marker"] = list(entry.marker)
    if kind not in (Kind.NONE, Kind.UNREADABLE):
        out["flags"] = list(entry.flags)
    if entry.writable is not None:
        out["writable"] = entry.writable
    if entry.note:
        out["note"] = entry.note
    out["anomalies"] = [{"what": a.what, "detail": a.detail} for a in e.anomalies]
    return out


def write_json_line(file: IO[str], obj: Dict[str, Any]) -> None:
    """Write one JSON Lines record (one write: json.dump() would make one
    per token)."""
    file.write(json.dumps(obj, separators=(",", ":")) + "\n")


def _task_text(t: Any) -> str:
    return f"{t.pid} ({t.comm}, {t.state})"


def unreadable_what(reason: str) -> str:
    """What an unreadable range of the triage report is about: ``page
    tables``, ``struct pages``, ``swap devices`` or ``address spaces``."""
    if "memory map" in reason:
        return "struct pages"
    if reason.startswith("swap device"):
        return "swap devices"
    if reason.startswith(("mm:", "task list:")):
        return "address spaces"
    return "page tables"


def render_leaks(console: Console, report: Any, verbose: bool = False) -> None:
    """
    The migration-entry triage report: summary first, then every finding
    in full. What is healthy (folios in flight, counters that agree) is
    counted, and listed only with *verbose*.
    """
    verdicts = Counter(f.verdict for f in report.folios)
    console.print(Text("Migration-entry triage", style="bold"))
    console.print(Text(
        f"scanned {report.address_spaces} address spaces, {report.entries} leaf entries; "
        f"{len(report.folios)} folios under migration entries: "
        f"{verdicts['leaked']} leaked, {verdicts['stuck']} stuck, "
        + (f"{verdicts['unknown']} unknown, " if verdicts["unknown"] else "")
        + f"{verdicts['in-flight']} in flight; {len(report.anomalies)} anomalies; "
        f"{sum(c.ok is False for c in report.counters)} counter mismatches; "
        + (f"{len(report.waiters)} tasks in the migration wait path" if report.tasks_examined
           else "task stacks not examined (no migration entry to wait on or migrate)")
    ))
    if report.live:
        console.print(Text(
            f"live kernel: each finding read again {report.confirmations} times, "
            f"{report.interval:g} s apart, and kept only if unchanged; "
            f"{len(report.transient)} transient, refuted by re-read"))
    for pid, comm, why in report.left_out:
        console.print(Text(f"left out: PID {pid} ({comm}), {why}"))
    if report.unwind_failed:
        console.print(Text(
            f"{len(report.unwind_failed)} task stacks could not be unwound (running tasks of "
            "a live kernel): they may be migrators or waiters"
            + (", so locked folios without a known migrator are 'unknown', not stuck"
               if verdicts["unknown"] else "")))
    if report.unreadable:
        what = Counter(unreadable_what(u[4]) for u in report.unreadable)
        console.print(Text("INCOMPLETE: could not read " + ", ".join(
            f"{n} ranges of {w}" if w != "swap devices" else f"{n} swap device reads"
            for w, n in sorted(what.items())), style="bold"))
    if not report.findings:
        console.print("no findings" + (" (in-flight migrations are not findings)"
                                       if verdicts["in-flight"] else ""))
    hidden = 0
    for f in report.folios:
        if f.verdict == "in-flight" and not verbose:
            hidden += 1
            continue
        _render_folio(console, f)
    if hidden:
        console.print()
        migrators = Counter(_task_text(t) for f in report.folios if f.verdict == "in-flight"
                            for t in f.migrators)
        console.print(Text(f"{hidden} folios in flight (each locked, with its migrating task: "
                           + ", ".join(f"{t} x{n}" for t, n in migrators.most_common(5))
                           + ("..." if len(migrators) > 5 else "")
                           + "); --verbose lists them"))
    if report.transient and verbose:
        console.print()
        _grid(console, "Transient (refuted by re-read, not findings)",
              [("WHAT", "<"), ("DETAIL", "<")],
              [([t.what, t.detail], t.confirmation.text(), None) for t in report.transient],
              "RE-READ")
    elif report.transient:
        console.print()
        console.print(Text(f"{len(report.transient)} transient findings (read while the "
                           "kernel changed them, refuted by re-read); --verbose lists them"))
    unlinked = [w for w in report.waiters
                if w.folio is None or all(w.folio != f.folio.folio for f in report.folios)]
    if unlinked:
        console.print()
        console.print(Text("Tasks in the migration wait path", style="bold"))
        for w in unlinked:
            console.print(Text(f"  {_task_text(w.task)} in {w.function}: folio "
                               f"{'?' if w.folio is None else hex(w.folio)} ({w.how})"))
    if report.anomalies:
        console.print()
        _grid(console, "Anomalies",
              [("WHAT", "<"), ("PID", ">"), ("ADDRESS", ">"), ("LEVEL", "<"), ("RAW", ">")],
              [([a.what, "" if a.pid is None else str(a.pid),
                 "" if a.addr is None else f"{a.addr:#x}", a.level or "",
                 "" if a.raw is None else f"{a.raw:#018x}"],
                a.detail + ("" if a.confirmation is None else f" ({a.confirmation.text()})"),
                None)
               for a in report.anomalies], "DETAIL")
    shown = [c for c in report.counters if verbose or c.ok is not True]
    ok = sum(c.ok is True for c in report.counters)
    console.print()
    if shown:
        _grid(console, "Counters",
              [("COUNTER", "<"), ("KERNEL", ">"), ("PAGE TABLES", ">"), ("", "<")],
              [([c.what, str(c.counter), str(c.found),
                 "-" if c.ok is None else "ok" if c.ok else "MISMATCH"],
                c.note + ("" if c.confirmation is None else f" ({c.confirmation.text()})"),
                "bold" if c.ok is False else None) for c in shown], "NOTE")
    if ok and not verbose:
        console.print(Text(f"{ok} counters (MM_SWAPENTS per address space, swap devices' "
                           "in-use slots) agree with the page tables; --verbose lists them"))


def _render_folio(console: Console, f: Any) -> None:
    info = f.folio
    kind = "anon" if f.anon else "file" if f.anon is not None else "?"
    console.print()
    console.print(Text(f"{f.verdict.upper()}: folio {info.folio:#x} pfn {info.folio_pfn:#x} "
                       f"order {info.order} {kind}", style="bold"))
    console.print(Text(
        f"  {'locked' if info.locked else 'NOT locked'}; PG_waiters "
        f"{'set' if info.waiters else 'clear'}; refcount {info.refcount}; mapcount "
        f"{info.mapcount}; mapping {f.mapping:#x} index "
        f"{'?' if f.index is None else hex(f.index)}; flags {','.join(info.flags)}"))
    if f.confirmation is not None:
        console.print(Text(f"  live: {f.confirmation.text()}"))
    _grid(console, None,
          [("PID", ">"), ("COMM", "<"), ("MM", ">"), ("ADDRESS", ">"), ("LEVEL", "<"),
           ("KIND", "<"), ("PFN", ">"), ("RAW", ">")],
          [([str(h.pid), h.comm, f"{h.mm:#x}", f"{h.addr:#x}", h.level, h.kind, f"{h.pfn:#x}",
             f"{h.raw:#018x}"], "", None) for h in f.holders])
    for line in f.evidence:
        console.print(Text(f"  evidence: {line}"))
    for w in f.waiters:
        console.print(Text(f"  waiter: {_task_text(w.task)} in {w.function}"))


def leaks_json(report: Any, status: int) -> Dict[str, Any]:
    """The JSON document of the triage report (schema in the README)."""
    verdicts = Counter(f.verdict for f in report.folios)

    def task(t: Any) -> Dict[str, Any]:
        return {"pid": t.pid, "comm": t.comm, "state": t.state, "task": t.address,
                "task_hex": f"{t.address:#x}"}

    return {
        "schema": JSON_SCHEMA_VERSION,
        "exit_status": status,
        "summary": {
            "address_spaces": report.address_spaces,
            "entries": report.entries,
            "folios": len(report.folios),
            "leaked": verdicts["leaked"],
            "stuck": verdicts["stuck"],
            "unknown": verdicts["unknown"],
            "in_flight": verdicts["in-flight"],
            "anomalies": len(report.anomalies),
            "counter_mismatches": sum(c.ok is False for c in report.counters),
            "waiters": len(report.waiters),
            "tasks_examined": report.tasks_examined,
            "findings": report.findings,
            "incomplete": report.incomplete,
            "live": report.live,
            "confirmations": report.confirmations if report.live else None,
            "interval": report.interval if report.live else None,
            "transient": len(report.transient),
            "unwind_failed": len(report.unwind_failed),
        },
        "folios": [
            {
                "verdict": f.verdict,
                "folio": f.folio.folio,
                "folio_hex": f"{f.folio.folio:#x}",
                "pfn": f.folio.folio_pfn,
                "order": f.folio.order,
                "flags": list(f.folio.flags),
                "locked": f.folio.locked,
                "waiters_flag": f.folio.waiters,
                "refcount": f.folio.refcount,
                "mapcount": f.folio.mapcount,
                "anon": f.anon,
                "mapping": f.mapping,
                "mapping_hex": f"{f.mapping:#x}",
                "index": f.index,
                "identity_problems": list(f.identity_problems),
                "holders": [
                    {"pid": h.pid, "comm": h.comm, "mm": h.mm, "mm_hex": f"{h.mm:#x}",
                     "addr": h.addr, "addr_hex": f"{h.addr:#x}", "level": h.level,
                     "kind": h.kind, "pfn": h.pfn, "raw": h.raw, "raw_hex": f"{h.raw:#018x}"}
                    for h in f.holders
                ],
                "migrators": [task(t) for t in f.migrators],
                "evidence": list(f.evidence),
                "waiters": [task(w.task) for w in f.waiters],
                "confirmation": _confirmation_json(f.confirmation),
            }
            for f in report.folios
        ],
        "waiters": [
            {**task(w.task), "function": w.function, "folio": w.folio,
             "folio_hex": None if w.folio is None else f"{w.folio:#x}", "how": w.how}
            for w in report.waiters
        ],
        "anomalies": [
            {"what": a.what, "detail": a.detail, "pid": a.pid, "comm": a.comm, "addr": a.addr,
             "addr_hex": None if a.addr is None else f"{a.addr:#x}",
             "level": a.level, "raw": a.raw,
             "raw_hex": None if a.raw is None else f"{a.raw:#018x}",
             "confirmation": _confirmation_json(a.confirmation)}
            for a in report.anomalies
        ],
        "counters": [
            {"what": c.what, "kernel": c.counter, "page_tables": c.found, "ok": c.ok,
             "note": c.note, "confirmation": _confirmation_json(c.confirmation)}
            for c in report.counters
        ],
        "transient": [
            {"what": t.what, "detail": t.detail, **_confirmation_json(t.confirmation)}
            for t in report.transient
        ],
        "left_out": [{"pid": pid, "comm": comm, "why": why}
                     for pid, comm, why in report.left_out],
        "unreadable": [
            {"pid": pid, "comm": comm, "start": start, "end": end,
             "what": unreadable_what(reason), "reason": reason}
            for pid, comm, start, end, reason in report.unreadable
        ],
        "wait_functions": list(report.wait_functions),
    }


def _confirmation_json(c: Any) -> Any:
    if c is None:
        return None
    return {"persisted": c.persisted, "reads": c.reads, "seconds": round(c.seconds, 3),
            "change": c.change}


class _ProgressBar:
    """A progress bar on stderr (see :func:`progress_reporter`)."""

    def __init__(self) -> None:
        from rich.progress import Progress

        self.progress = Progress(console=Console(file=sys.stderr), transient=True)
        self.task_id: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.task_id is None:
            self.progress.start()
            self.task_id = self.progress.add_task("scanning address spaces", total=total)
        self.progress.update(self.task_id, completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        """Remove the bar (also when the scan ends early: an error, Ctrl-C)."""
        self.progress.stop()


def progress_reporter() -> Optional[_ProgressBar]:
    """A callback drawing a progress bar on stderr, or None when stderr is
    not a terminal. Call its ``close()`` when the scan ends, however it
    ends."""
    if not sys.stderr.isatty():
        return None
    return _ProgressBar()


def write_entries_jsonl(out: IO[str], space: AddressSpace, target: Any, items: Iterable[Any],
                        enrich: Any, kinds: Optional[Any] = None) -> None:
    """
    Write the JSON Lines of the leaf entries in *items* (walk items and PTE
    groups from :func:`drgn_softleaf.classify.batch_items`). Runs of
    ordinary present PTEs, the bulk of any address space, are formatted
    straight from the vector classification, a run at a time
    (:func:`drgn_softleaf.fastjson.format_lines`); every other entry goes
    through :func:`entry_json`. Both give the same text for the same entry.

    :param enrich: Called with a :class:`LeafEntry`, returns its
        :class:`Enriched`.
    :param kinds: Only entries of these kinds (``None``: all).
    """
    from drgn_softleaf.checks import get_memory_map, present_suspects
    from drgn_softleaf.classify import (
        classify_item,
        classify_pte_batch,
        present_code,
        present_flag_bits,
        protnone_reason,
    )
    from drgn_softleaf.fastjson import format_lines_at

    np = _numpy()
    memmap = get_memory_map(space.mm.prog_)
    layout = target.layout
    vec = layout.vector()
    head = json.dumps({"schema": JSON_SCHEMA_VERSION, "pid": space.pid, "comm": space.comm},
                      separators=(",", ":"))[:-1].encode()
    want_present = kinds is None or Kind.PRESENT in kinds
    write = out.write
    # Bulk text is ASCII bytes: written to the binary stream under *out*
    # when there is one (after what *out* holds), else decoded.
    binary = getattr(out, "buffer", None)

    def write_ascii(data: Any) -> None:
        if binary is not None:
            out.flush()
            binary.write(data)
        else:
            write(bytes(data).decode("ascii"))

    for item in items:
        if not isinstance(item, list):
            for entry in classify_item(target, item):
                if kinds is None or entry.kind in kinds:
                    write_json_line(out, entry_json(space, enrich(entry)))
            continue
        batch = classify_pte_batch(target, item)
        vma = batch.vma
        tail = json.dumps({"vma_start": vma.start, "vma_start_hex": f"{vma.start:#x}",
                           "vma_end": vma.end, "vma_end_hex": f"{vma.end:#x}",
                           "vma_flags": vma.flags, "vma_file": vma.file},
                          separators=(",", ":"))[1:-1].encode()
        if not len(batch.raws):
            continue
        present = batch.codes == present_code()
        protnone = vec.pte_protnone(batch.raws) & present
        pfns = vec.pte_pfn(batch.raws, target.physical_mask)
        # Present entries that check_present_pfn() may call impossible go
        # the slow way, which says why.
        suspect = present_suspects(memmap, layout.special_mask, batch.raws, pfns, present)
        if vma.kernel or vma.pfnmap:
            suspect[:] = False
        flag_bits = present_flag_bits(target, vma)
        # Each entry's way: a present PTE's is 2 * (its flag bits, as a
        # number) + whether it is PROT_NONE, each a template of its own;
        # SLOW one at a time (entry_json()), SKIP not listed.
        bulk_ways = 2 << len(flag_bits)
        slow, skip = bulk_ways, bulk_ways + 1
        way = np.full(len(batch.raws), slow, dtype=np.int16)
        if want_present:
            combo = np.zeros(len(batch.raws), dtype=np.int16)
            for k, (_, mask) in enumerate(flag_bits):
                combo |= ((batch.raws & np.uint64(mask)) != 0).astype(np.int16) << k
            way[present] = (2 * combo + protnone)[present]
        else:
            way[present] = skip
        way[suspect] = slow
        parts = [head + b',"addr":', b',"addr_hex":"0x',
                 b'","size":%d,"level":"pte","raw":' % (1 << layout.page_shift),
                 b',"raw_hex":"0x', b'","kind":"present",' + tail + b',"pfn":']
        ends = []
        for w in range(bulk_ways):
            names = tuple(name for k, (name, _) in enumerate(flag_bits) if (w >> 1) >> k & 1)
            flags = json.dumps(list(names), separators=(",", ":")).encode()
            reason = json.dumps(protnone_reason(vma, names) or "").encode()
            ends.append((b',"protnone":true,"protnone_reason":' + reason if w & 1
                         else b',"protnone":false') + b',"flags":' + flags
                        + b',"anomalies":[]}\n')
        first_way = int(way[0])
        if first_way < bulk_ways and not (way != first_way).any():
            # The common case: the whole batch one template.
            write_ascii(format_lines_at(parts + [ends[first_way]], [
                (batch.addrs, "d"), (batch.addrs, "x"), (batch.raws, "d"),
                (batch.raws, "x16"), (pfns, "d")])[0])
            continue
        # The lines of each bulk way, all at once, then cut into the runs
        # that fall between the entries written one at a time.
        bulk: Dict[int, Tuple[Any, List[int], Any]] = {}
        for w in np.unique(way[way < bulk_ways]).tolist():
            rows = np.flatnonzero(way == w)
            if len(rows):
                addrs = batch.addrs[rows]
                raws = batch.raws[rows]
                text, offsets = format_lines_at(parts + [ends[w]], [
                    (addrs, "d"), (addrs, "x"), (raws, "d"), (raws, "x16"),
                    (pfns[rows], "d")])
                # Row i of the batch is line rank[i] of its way's text.
                rank = np.cumsum(way == w) - 1
                bulk[w] = (memoryview(text), offsets.tolist(), rank)
        slow_rows = np.flatnonzero(way == slow)
        slow_lines = _lines_one_by_one(space, target, vma, batch.addrs[slow_rows],
                                       batch.raws[slow_rows], enrich, kinds)
        slow_rank = np.cumsum(way == slow) - 1
        cuts = np.flatnonzero(np.diff(way)) + 1
        bounds = [0] + cuts.tolist() + [len(way)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            w = int(way[lo])
            if w < bulk_ways:
                text, offsets, rank = bulk[w]
                write_ascii(text[offsets[int(rank[lo])]:offsets[int(rank[hi - 1]) + 1]])
            elif w == slow:
                write("".join(slow_lines[int(slow_rank[lo]):int(slow_rank[hi - 1]) + 1]))


# Stand-ins for the address in a JSON template (no kernel string holds NUL).
_ADDR_TOKEN = json.dumps("\0addr\0")
_HEX_TOKEN = json.dumps("\0addr_hex\0")
# A value seen this many times in a run is formatted from one template.
_REPEATS = 8


def _lines_one_by_one(space: AddressSpace, target: Any, vma: Vma, addrs: Any, raws: Any,
                      enrich: Any, kinds: Optional[Any]) -> List[str]:
    """
    The JSON Lines of PTEs that are not ordinary present ones, one string
    per entry (empty if its kind is not wanted): each through
    :func:`entry_json`, except that a value
    repeated many times (markers, mostly) is decoded and enriched once and
    its lines made from that template, since nothing in a line but the
    address depends on anything but the value and the VMA. A value whose
    entry is impossible, or whose folio or swap slot could not be read, is
    always done one entry at a time (so that *enrich* sees each).
    """
    from drgn_softleaf.classify import classify_value
    from drgn_softleaf.fastjson import format_lines_at

    np = _numpy()
    text: List[Optional[str]] = [None] * len(raws)
    values, inverse, counts = np.unique(raws, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    for u in np.flatnonzero(counts >= _REPEATS).tolist():
        rows = np.flatnonzero(inverse == u)
        first = int(rows[0])
        entry = classify_value(target, int(raws[first]), "pte", vma=vma, addr=int(addrs[first]))
        if kinds is not None and entry.kind not in kinds:
            for i in rows.tolist():
                text[i] = ""
            continue
        e = enrich(entry)
        if e.anomalies or (e.folio is not None and e.folio.error) or (
                e.swap is not None and e.swap.error):
            # One at a time; the first row is done (and counted) already.
            text[first] = json.dumps(entry_json(space, e), separators=(",", ":")) + "\n"
            continue
        obj = entry_json(space, e)
        obj["addr"], obj["addr_hex"] = "\0addr\0", "\0addr_hex\0"
        head, rest = json.dumps(obj, separators=(",", ":")).split(_ADDR_TOKEN)
        middle, tail = rest.split(_HEX_TOKEN)
        lines, offsets = format_lines_at(
            [head.encode(), (middle + '"0x').encode(), ('"' + tail + "\n").encode()],
            [(addrs[rows], "d"), (addrs[rows], "x")])
        lines_text = lines.decode("ascii")
        for k, i in enumerate(rows.tolist()):
            text[i] = lines_text[offsets[k]:offsets[k + 1]]
        # The first row was enriched (and counted) already: the others are
        # the same entry at other addresses.
    for i, line in enumerate(text):
        if line is None:
            entry = classify_value(target, int(raws[i]), "pte", vma=vma, addr=int(addrs[i]))
            text[i] = (json.dumps(entry_json(space, enrich(entry)), separators=(",", ":"))
                       + "\n") if kinds is None or entry.kind in kinds else ""
    return text  # type: ignore[return-value]


def _numpy() -> Any:
    import numpy

    return numpy

