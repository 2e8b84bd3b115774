# SPDX-License-Identifier: LGPL-2.1-or-later
"""
JSON documents
--------------

What scripts read: the JSON objects of a leaf entry (one per line in
``entries --format jsonl``), and the documents of ``summary``, ``vmas`` and
``leaks``. Their schema is documented in the README ("JSON Lines schema",
"JSON documents") and versioned by :data:`JSON_SCHEMA_VERSION`. Nothing
here walks or classifies: each document is made from the records the scan
and the triage return.
"""

import json
from collections import Counter
from typing import IO, TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from drgn_softleaf.classify import Kind
from drgn_softleaf.live import Confirmation
from drgn_softleaf.scan import AddressSpace, Enriched
from drgn_softleaf.vma import Vma

if TYPE_CHECKING:  # (importing triage would import all of it: only its records)
    from drgn_softleaf.triage.records import LeakReport, MigrationFolio, Task

__all__ = (
    "JSON_SCHEMA_VERSION",
    "entry_json",
    "leaks_json",
    "summary_json",
    "unreadable_what",
    "vmas_json",
    "write_json_line",
)

# Version of the JSON schema (README: "JSON Lines schema"). 2: per-entry
# anomalies, pointers also as hex strings.
JSON_SCHEMA_VERSION = 2


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


def _task_json(t: "Task") -> Dict[str, Any]:
    return {"pid": t.pid, "comm": t.comm, "state": t.state, "task": t.address,
            "task_hex": f"{t.address:#x}"}


def _leaks_summary_json(report: "LeakReport") -> Dict[str, Any]:
    verdicts = Counter(f.verdict for f in report.folios)
    return {
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
    }


def _folio_json(f: "MigrationFolio") -> Dict[str, Any]:
    return {
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
        "migrators": [_task_json(t) for t in f.migrators],
        "evidence": list(f.evidence),
        "waiters": [_task_json(w.task) for w in f.waiters],
        "confirmation": _confirmation_json(f.confirmation),
    }


def leaks_json(report: "LeakReport", status: int) -> Dict[str, Any]:
    """The JSON document of the triage report (schema in the README)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "exit_status": status,
        "summary": _leaks_summary_json(report),
        "folios": [_folio_json(f) for f in report.folios],
        "waiters": [
            {**_task_json(w.task), "function": w.function, "folio": w.folio,
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
            {"what": t.what, "detail": t.detail, **_confirmation_fields(t.confirmation)}
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


def _confirmation_fields(c: Confirmation) -> Dict[str, Any]:
    return {"persisted": c.persisted, "reads": c.reads, "seconds": round(c.seconds, 3),
            "change": c.change}


def _confirmation_json(c: Optional[Confirmation]) -> Optional[Dict[str, Any]]:
    return None if c is None else _confirmation_fields(c)


def summary_json(rows: Sequence[Tuple[AddressSpace, int, Counter, Counter]],
                 impossible: int, unreadable: List[str]) -> Dict[str, Any]:
    """The ``summary`` document: per address space (its VMAs, counts per
    kind and of impossible entries), and what could not be read."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "processes": [
            {"pid": s.pid, "comm": s.comm, "mm": s.mm.value_(),
             "mm_hex": f"{s.mm.value_():#x}", "vmas": n,
             "counts": {k.value: v for k, v in sorted(c.items(), key=lambda kv: kv[0].value)},
             "impossible": dict(sorted(i.items()))}
            for s, n, c, i in rows
        ],
        "impossible": impossible,
        "incomplete": bool(unreadable),
        "unreadable": unreadable,
    }


def vmas_json(space: AddressSpace, rows: Sequence[Tuple[Vma, Counter, Counter]],
              impossible: int, unreadable: List[str]) -> Dict[str, Any]:
    """The ``vmas`` document: per VMA of *space*, its range, flags, file and
    name, counts per kind and of impossible entries."""
    return {
        "schema": JSON_SCHEMA_VERSION, "pid": space.pid, "comm": space.comm,
        "vmas": [
            {"start": v.start, "start_hex": f"{v.start:#x}", "end": v.end,
             "end_hex": f"{v.end:#x}", "flags": v.flags, "file": v.file,
             "name": v.name,
             "counts": {k.value: n for k, n in c.items()},
             "impossible": dict(sorted(i.items()))}
            for v, c, i in rows
        ],
        "impossible": impossible,
        "incomplete": bool(unreadable),
        "unreadable": unreadable,
    }


def write_document(out: IO[str], document: Dict[str, Any], indent: Optional[int] = None) -> None:
    """Write one JSON document and a newline."""
    json.dump(document, out, indent=indent)
    out.write("\n")
