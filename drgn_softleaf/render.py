# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Rendering
---------

Tables and reports for people (the JSON for scripts is
:mod:`drgn_softleaf.schema`'s). The only module that imports rich; nothing
here walks, classifies or checks: it shows the records the scan and the
triage return. One :class:`rich.console.Console` is made by :func:`make_console` and
passed in; it honours ``NO_COLOR`` and, when not writing to a terminal, uses
a fixed wide width so that addresses are never cut.
"""

import os
import sys
from collections import Counter
from typing import IO, TYPE_CHECKING, Any, Iterable, List, Optional, Sequence, Tuple

from rich.console import Console
from rich.table import Table
from rich.text import Text

from drgn_softleaf.classify import KIND_ORDER, Kind
from drgn_softleaf.scan import AddressLookup, AddressSpace, Enriched
from drgn_softleaf.schema import unreadable_what
from drgn_softleaf.vma import Vma

if TYPE_CHECKING:  # (importing triage would import all of it: only its records)
    from drgn_softleaf.triage.records import LeakReport, MigrationFolio, Task

__all__ = (
    "make_console",
    "progress_reporter",
    "render_addr",
    "render_decode",
    "render_entries",
    "render_leaks",
    "render_summary",
    "render_vmas",
)

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


def render_addr(console: Console, space: AddressSpace, addr: int, lookup: AddressLookup,
                page_shift: int) -> None:
    """
    Show the entry at every level on the way to *addr* (with its bits, as
    the architecture names them) and its leaf: decoded, the physical
    address of the byte for a present page and the folio behind it.
    """
    console.print(Text(f"PID {space.pid} ({space.comm}) address {addr:#x}"))
    vma = lookup.vma
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
    for (level, entry_phys, value, what), bits in zip(lookup.path, lookup.bits):
        table.add_row(level, f"{entry_phys:#x}", f"{value:#018x}", what or "", " ".join(bits))
    console.print(table)
    leaf = lookup.leaf
    if leaf is None:
        return
    entry = leaf.entry
    console.print(Text(f"leaf: {entry.level} {entry.kind.value} at {entry.addr:#x} "
                       f"size {entry.size:#x}: {_details(leaf)}"))
    for a in leaf.anomalies:
        console.print(Text(f"IMPOSSIBLE ({a.what}): {a.detail}", style="bold"))
    if lookup.phys is not None:
        phys = lookup.phys
        console.print(Text(f"physical address: {phys:#x} (pfn {phys >> page_shift:#x} offset "
                           f"{phys & ((1 << page_shift) - 1):#x})"))
    f = leaf.folio
    if f is not None and not f.error:
        console.print(Text(
            f"folio {f.folio:#x} pfn {f.folio_pfn:#x} order {f.order}; page {f.page:#x}; "
            f"refcount {f.refcount}; mapcount {f.mapcount}; flags {','.join(f.flags) or '-'}"))


def _task_text(t: "Task") -> str:
    return f"{t.pid} ({t.comm}, {t.state})"


def render_leaks(console: Console, report: "LeakReport", verbose: bool = False) -> None:
    """
    The migration-entry triage report: summary first, then every finding
    in full. What is healthy (folios in flight, counters that agree) is
    counted, and listed only with *verbose*.
    """
    verdicts = Counter(f.verdict for f in report.folios)
    _leaks_header(console, report, verdicts)
    _leaks_folios(console, report, verdicts, verbose)
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


def _leaks_header(console: Console, report: "LeakReport", verdicts: Counter) -> None:
    """The report's summary: what was scanned and found, and how sure it is."""
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


def _leaks_folios(console: Console, report: "LeakReport", verdicts: Counter,
                  verbose: bool) -> None:
    """The folios (in flight only with *verbose*), transient findings and
    waiters not linked to a folio."""
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


def _render_folio(console: Console, f: "MigrationFolio") -> None:
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
