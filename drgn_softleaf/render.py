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

# Version of the JSON Lines schema (README: "JSON Lines schema").
JSON_SCHEMA_VERSION = 1

# Width used when output is not a terminal: wide enough for every table.
PIPE_WIDTH = 200


def make_console(file: Optional[IO[str]] = None, width: Optional[int] = None) -> Console:
    """
    Make the console for one command. *file* defaults to the current
    ``sys.stdout`` (looked up now, so drgn's ``> file`` and ``| pipe``
    work).
    """
    if file is None:
        file = sys.stdout
    is_tty = hasattr(file, "isatty") and file.isatty()
    if width is None and not is_tty:
        width = PIPE_WIDTH
    return Console(
        file=file,
        width=width,
        no_color="NO_COLOR" in os.environ or not is_tty,
        highlight=False,
        soft_wrap=False,
        force_terminal=False if not is_tty else None,
    )


def _addr_column(table: Table, name: str) -> None:
    table.add_column(name, justify="right", no_wrap=True)


def _kind_columns(counters: Iterable[Counter]) -> List[Kind]:
    seen: Counter = Counter()
    for c in counters:
        seen.update(c)
    always = (Kind.PRESENT, Kind.SWAP)
    return [k for k in KIND_ORDER if k != Kind.NONE and (k in always or seen[k])]


def render_summary(console: Console, rows: Sequence[Tuple[AddressSpace, int, Counter]]) -> None:
    """One row per address space: counts of leaf entries per kind."""
    kinds = _kind_columns(c for _, _, c in rows)
    table = Table(title="Leaf entries per process", title_justify="left", box=None,
                  header_style="bold")
    table.add_column("PID", justify="right", no_wrap=True)
    table.add_column("COMM", no_wrap=True)
    table.add_column("VMAS", justify="right")
    for k in kinds:
        table.add_column(k.value.upper(), justify="right", no_wrap=True)
    totals: Counter = Counter()
    for space, nvmas, counts in rows:
        totals.update(counts)
        table.add_row(str(space.pid), Text(space.comm), str(nvmas),
                      *(str(counts[k]) for k in kinds))
    console.print(table)
    console.print(
        f"{len(rows)} address spaces; "
        + ", ".join(f"{k.value} {totals[k]}" for k in kinds if totals[k])
    )


def _vma_flags_text(flags: int) -> str:
    return "".join(
        c if flags & bit else "-" for c, bit in (("r", 1), ("w", 2), ("x", 4), ("s", 8))
    )


def render_vmas(console: Console, space: AddressSpace,
                rows: Sequence[Tuple[Vma, Counter]]) -> None:
    """One row per VMA: its range, flags, file and counts per kind."""
    kinds = _kind_columns(c for _, c in rows)
    table = Table(title=f"VMAs of PID {space.pid} ({space.comm})", title_justify="left",
                  box=None, header_style="bold")
    _addr_column(table, "START")
    _addr_column(table, "END")
    table.add_column("FLAGS", no_wrap=True)
    for k in kinds:
        table.add_column(k.value.upper(), justify="right", no_wrap=True)
    table.add_column("FILE", overflow="fold")
    for vma, counts in rows:
        table.add_row(f"{vma.start:#x}", f"{vma.end:#x}",
                      _vma_flags_text(vma.flags) + (" hugetlb" if vma.hugetlb else ""),
                      *(str(counts[k]) for k in kinds), Text(vma.file or ""))
    console.print(table)


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
        parts.append(f"protnone ({entry.protnone_reason})")
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


def render_entries(console: Console, space: AddressSpace, entries: Iterable[Enriched]) -> int:
    """List leaf entries; return how many were listed."""
    table = Table(title=f"Leaf entries of PID {space.pid} ({space.comm})",
                  title_justify="left", box=None, header_style="bold")
    _addr_column(table, "ADDRESS")
    table.add_column("LEVEL", no_wrap=True)
    table.add_column("KIND", no_wrap=True)
    _addr_column(table, "RAW")
    table.add_column("DETAILS", overflow="fold")
    n = 0
    for e in entries:
        entry = e.entry
        table.add_row(f"{entry.addr:#x}", entry.level, entry.kind.value,
                      f"{entry.raw:#018x}", Text(_details(e)))
        n += 1
    console.print(table)
    console.print(f"{n} entries")
    return n


def render_decode(console: Console, value: int, entries: Sequence[Tuple[str, Enriched]]) -> None:
    """Show what *value* means at each level it was decoded for."""
    table = Table(title=f"{value:#018x}", title_justify="left", box=None, header_style="bold")
    table.add_column("AS", no_wrap=True)
    table.add_column("KIND", no_wrap=True)
    table.add_column("DETAILS", overflow="fold")
    for label, e in entries:
        table.add_row(label, e.entry.kind.value, Text(_details(e)))
    console.print(table)


def render_addr(console: Console, space: AddressSpace, addr: int,
                path: Sequence[Tuple[str, int, int, Optional[str]]],
                leaf: Optional[Enriched], vma: Optional[Vma]) -> None:
    """Show the entry at every level on the way to *addr* and its leaf."""
    console.print(Text(f"PID {space.pid} ({space.comm}) address {addr:#x}"))
    if vma is None:
        console.print("not inside any VMA")
    else:
        console.print(Text(f"VMA {vma.start:#x}-{vma.end:#x} {_vma_flags_text(vma.flags)} "
                           f"{vma.file or '(anonymous)'}"))
    table = Table(box=None, header_style="bold")
    table.add_column("LEVEL", no_wrap=True)
    _addr_column(table, "ENTRY ADDRESS")
    _addr_column(table, "VALUE")
    table.add_column("", overflow="fold")
    for level, entry_phys, value, what in path:
        table.add_row(level, f"{entry_phys:#x} (phys)", f"{value:#018x}", what or "")
    console.print(table)
    if leaf is not None:
        console.print(Text(f"leaf: {leaf.entry.level} {leaf.entry.kind.value} "
                           f"at {leaf.entry.addr:#x} size {leaf.entry.size:#x}: {_details(leaf)}"))


def entry_json(space: AddressSpace, e: Enriched) -> Dict[str, Any]:
    """The JSON object for one leaf entry (schema in the README)."""
    entry = e.entry
    vma = entry.vma
    out: Dict[str, Any] = {
        "schema": JSON_SCHEMA_VERSION,
        "pid": space.pid,
        "comm": space.comm,
        "addr": entry.addr,
        "size": entry.size,
        "level": entry.level,
        "raw": entry.raw,
        "raw_hex": f"{entry.raw:#018x}",
        "kind": entry.kind.value,
        "vma_start": vma.start if vma else None,
        "vma_end": vma.end if vma else None,
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
        out["folio_order"] = f.order if f and not f.error else None
        out["folio_locked"] = f.locked if f and not f.error else None
        if f and f.error:
            out["folio_error"] = f.error
        if kind.is_migration:
            out["mig_young"] = entry.mig_young
            out["mig_dirty"] = entry.mig_dirty
    elif kind == Kind.MARKER:
        out["marker"] = list(entry.marker)
    if kind not in (Kind.PRESENT, Kind.NONE, Kind.UNREADABLE):
        out["flags"] = list(entry.flags)
    if entry.writable is not None:
        out["writable"] = entry.writable
    if entry.note:
        out["note"] = entry.note
    return out


def write_json_line(file: IO[str], obj: Dict[str, Any]) -> None:
    """Write one JSON Lines record."""
    json.dump(obj, file, separators=(",", ":"))
    file.write("\n")


def _task_text(t: Any) -> str:
    return f"{t.pid} ({t.comm}, {t.state})"


def render_leaks(console: Console, report: Any) -> None:
    """The migration-entry triage report: summary first, then each folio."""
    verdicts = Counter(f.verdict for f in report.folios)
    console.print(Text("Migration-entry triage", style="bold"))
    console.print(
        f"scanned {report.address_spaces} address spaces, {report.entries} leaf entries; "
        f"{len(report.folios)} folios under migration entries: "
        f"{verdicts['leaked']} leaked, {verdicts['stuck']} stuck, "
        f"{verdicts['in-flight']} in flight; {len(report.anomalies)} anomalies; "
        f"{sum(c.ok is False for c in report.counters)} counter mismatches; "
        f"{len(report.waiters)} tasks in the migration wait path"
    )
    if report.unreadable:
        console.print(Text(f"INCOMPLETE: {len(report.unreadable)} page-table ranges could not "
                           "be read", style="bold"))
    if not report.findings:
        console.print("no findings" + (" (in-flight migrations are not findings)"
                                       if verdicts["in-flight"] else ""))
    for f in report.folios:
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
        for p in f.identity_problems:
            console.print(Text(f"  identity: {p}"))
        table = Table(box=None, header_style="bold", padding=(0, 1))
        table.add_column("PID", justify="right", no_wrap=True)
        table.add_column("COMM", no_wrap=True)
        _addr_column(table, "MM")
        _addr_column(table, "ADDRESS")
        table.add_column("LEVEL", no_wrap=True)
        table.add_column("KIND", no_wrap=True)
        _addr_column(table, "PFN")
        _addr_column(table, "RAW")
        for h in f.holders:
            table.add_row(str(h.pid), Text(h.comm), f"{h.mm:#x}", f"{h.addr:#x}", h.level,
                          h.kind, f"{h.pfn:#x}", f"{h.raw:#018x}")
        console.print(table)
        if f.migrators:
            console.print(Text("  migrating: " + ", ".join(_task_text(t) for t in f.migrators)))
        elif f.verdict != "leaked":
            console.print("  no task is migrating this folio")
        for w in f.waiters:
            console.print(Text(f"  waiter: {_task_text(w.task)} in {w.function}"))
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
        table = Table(title="Anomalies", title_justify="left", box=None, header_style="bold")
        table.add_column("WHAT", no_wrap=True)
        table.add_column("PID", justify="right", no_wrap=True)
        _addr_column(table, "ADDRESS")
        table.add_column("LEVEL", no_wrap=True)
        _addr_column(table, "RAW")
        table.add_column("DETAIL", overflow="fold")
        for a in report.anomalies:
            table.add_row(a.what, "" if a.pid is None else str(a.pid),
                          "" if a.addr is None else f"{a.addr:#x}", a.level or "",
                          "" if a.raw is None else f"{a.raw:#018x}", Text(a.detail))
        console.print(table)
    console.print()
    table = Table(title="Counters", title_justify="left", box=None, header_style="bold")
    table.add_column("COUNTER", no_wrap=True)
    table.add_column("KERNEL", justify="right")
    table.add_column("PAGE TABLES", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("NOTE", overflow="fold")
    for c in report.counters:
        table.add_row(Text(c.what), str(c.counter), str(c.found),
                      "-" if c.ok is None else "ok" if c.ok else "MISMATCH", Text(c.note))
    console.print(table)


def leaks_json(report: Any, status: int) -> Dict[str, Any]:
    """The JSON document of the triage report (schema in the README)."""
    verdicts = Counter(f.verdict for f in report.folios)

    def task(t: Any) -> Dict[str, Any]:
        return {"pid": t.pid, "comm": t.comm, "state": t.state, "task": t.address}

    return {
        "schema": JSON_SCHEMA_VERSION,
        "exit_status": status,
        "summary": {
            "address_spaces": report.address_spaces,
            "entries": report.entries,
            "folios": len(report.folios),
            "leaked": verdicts["leaked"],
            "stuck": verdicts["stuck"],
            "in_flight": verdicts["in-flight"],
            "anomalies": len(report.anomalies),
            "counter_mismatches": sum(c.ok is False for c in report.counters),
            "waiters": len(report.waiters),
            "findings": report.findings,
            "incomplete": report.incomplete,
        },
        "folios": [
            {
                "verdict": f.verdict,
                "folio": f.folio.folio,
                "pfn": f.folio.folio_pfn,
                "order": f.folio.order,
                "flags": list(f.folio.flags),
                "locked": f.folio.locked,
                "waiters_flag": f.folio.waiters,
                "refcount": f.folio.refcount,
                "mapcount": f.folio.mapcount,
                "anon": f.anon,
                "mapping": f.mapping,
                "index": f.index,
                "identity_problems": list(f.identity_problems),
                "holders": [
                    {"pid": h.pid, "comm": h.comm, "mm": h.mm, "addr": h.addr, "level": h.level,
                     "kind": h.kind, "pfn": h.pfn, "raw": h.raw, "raw_hex": f"{h.raw:#018x}"}
                    for h in f.holders
                ],
                "migrators": [task(t) for t in f.migrators],
                "waiters": [task(w.task) for w in f.waiters],
            }
            for f in report.folios
        ],
        "waiters": [
            {**task(w.task), "function": w.function, "folio": w.folio, "how": w.how}
            for w in report.waiters
        ],
        "anomalies": [
            {"what": a.what, "detail": a.detail, "pid": a.pid, "comm": a.comm, "addr": a.addr,
             "level": a.level, "raw": a.raw}
            for a in report.anomalies
        ],
        "counters": [
            {"what": c.what, "kernel": c.counter, "page_tables": c.found, "ok": c.ok,
             "note": c.note}
            for c in report.counters
        ],
        "unreadable": [
            {"pid": pid, "comm": comm, "start": start, "end": end, "reason": reason}
            for pid, comm, start, end, reason in report.unreadable
        ],
        "wait_functions": list(report.wait_functions),
    }


def progress_reporter() -> Any:
    """A callback drawing a progress bar on stderr, or None when stderr is
    not a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress

    progress = Progress(console=Console(file=sys.stderr), transient=True)
    task_id = None

    def update(done: int, total: int) -> None:
        nonlocal task_id
        if task_id is None:
            progress.start()
            task_id = progress.add_task("scanning address spaces", total=total)
        progress.update(task_id, completed=done)
        if done >= total:
            progress.stop()

    return update


def write_entries_jsonl(out: IO[str], space: AddressSpace, target: Any, items: Iterable[Any],
                        enrich: Any, kinds: Optional[Any] = None) -> None:
    """
    Write the JSON Lines of the leaf entries in *items* (walk items and PTE
    groups from :func:`drgn_softleaf.classify.batch_items`). Present PTEs,
    the bulk of any address space, are formatted straight from the vector
    classification; every other entry goes through :func:`entry_json`. Both
    give the same text for the same entry.

    :param enrich: Called with a :class:`LeafEntry`, returns its
        :class:`Enriched`.
    :param kinds: Only entries of these kinds (``None``: all).
    """
    from drgn_softleaf.classify import (
        classify_item,
        classify_pte_batch,
        classify_value,
        present_code,
        protnone_reason,
    )

    head = json.dumps({"schema": JSON_SCHEMA_VERSION, "pid": space.pid, "comm": space.comm},
                      separators=(",", ":"))[:-1]
    want_present = kinds is None or Kind.PRESENT in kinds
    write = out.write
    for item in items:
        if not isinstance(item, list):
            for entry in classify_item(target, item):
                if kinds is None or entry.kind in kinds:
                    write_json_line(out, entry_json(space, enrich(entry)))
            continue
        batch = classify_pte_batch(target, item)
        vma = batch.vma
        tail = json.dumps({"vma_start": vma.start, "vma_end": vma.end, "vma_flags": vma.flags,
                           "vma_file": vma.file}, separators=(",", ":"))[1:-1]
        reason = json.dumps(protnone_reason(vma) or "")
        vec = target.layout.vector()
        np = _numpy()
        present = batch.codes == present_code()
        protnone = vec.pte_protnone(batch.raws) & present
        # %-templates, applied by map() over whole columns: the per-line
        # work is one C-level format.
        stem = (head.replace("%", "%%") + ',"addr":%d,"size":4096,"level":"pte","raw":%d,'
                '"raw_hex":"%#018x","kind":"present",' + tail.replace("%", "%%")
                + ',"pfn":%d,')
        plain = stem + '"protnone":false}\n'
        if want_present and present.all() and not protnone.any():
            # The common case, a batch of ordinary present PTEs: one pass.
            rl = batch.raws.tolist()
            write("".join(map(plain.__mod__, zip(
                batch.addrs.tolist(), rl, rl,
                vec.pte_pfn(batch.raws, target.physical_mask).tolist()))))
            continue
        lines = np.empty(len(batch.raws), dtype=object)
        if want_present and present.any():
            for mask, template in ((present & ~protnone, plain),
                                   (protnone, stem + '"protnone":true,"protnone_reason":'
                                    + reason.replace("%", "%%") + "}\n")):
                if not mask.any():
                    continue
                raws = batch.raws[mask]
                rl = raws.tolist()
                lines[mask] = list(map(template.__mod__, zip(
                    batch.addrs[mask].tolist(), rl, rl,
                    vec.pte_pfn(raws, target.physical_mask).tolist())))
        for i in np.flatnonzero(~present).tolist():
            entry = classify_value(target, int(batch.raws[i]), "pte", vma=vma,
                                   addr=int(batch.addrs[i]))
            if kinds is None or entry.kind in kinds:
                lines[i] = json.dumps(entry_json(space, enrich(entry)),
                                      separators=(",", ":")) + "\n"
        write("".join([line for line in lines.tolist() if line is not None]))


def _numpy() -> Any:
    import numpy

    return numpy

