# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Commands
--------

The sub-commands shared by the drgn ``%softleaf`` command and the
``drgn-softleaf`` console script: one argument parser, one implementation
per sub-command, each a thin layer over :mod:`drgn_softleaf.scan` and
:mod:`drgn_softleaf.render`.
"""

import argparse
import sys
from typing import IO, Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

from drgn import FaultError, Program

__all__ = ("CommandFailed", "ParserExit", "build_parser", "parse", "run")

# Exit statuses.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_INCOMPLETE = 3


class CommandFailed(Exception):
    """A sub-command failed with a message for the user."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so that it can run
    inside a drgn session."""

    def error(self, message: str) -> NoReturn:
        raise CommandFailed(f"{self.prog.split()[-1]}: {message}"
                            if " " in self.prog else message)

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise ParserExit(status)


class ParserExit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _int(s: str) -> int:
    try:
        return int(s, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {s!r}") from None


def _range(s: str) -> Tuple[int, int]:
    start, sep, end = s.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START-END, got {s!r}")
    lo, hi = _int(start), _int(end)
    if hi <= lo:
        raise argparse.ArgumentTypeError(f"empty range {s!r}")
    return lo, hi


KINDS = (
    "present swap migration_read migration_read_exclusive migration_write "
    "device_private_read device_private_write device_exclusive hwpoison marker "
    "invalid kernel_not_present none unreadable"
).split()


def build_parser(prog_name: str = "softleaf", parents: Sequence[argparse.ArgumentParser] = ()) -> _Parser:
    """Build the parser for the sub-commands."""
    parser = _Parser(
        prog=prog_name,
        parents=list(parents),
        description="Classify page-table leaf entries the way the kernel does "
        "(include/linux/leafops.h): present, swap, migration, device, hwpoison, "
        "markers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def drgn_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--drgn", action="store_true",
                       help="print how to do the same with the drgn-softleaf Python API")

    def pid_option(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("-p", "--pid", type=int, help="process ID")
        g.add_argument("--kernel-tables", action="store_true",
                       help="the kernel's own page tables (init_mm): non-present entries "
                       "there are shown raw, not decoded")

    p = sub.add_parser("summary", help="leaf entries per kind for every process")
    p.add_argument("--format", choices=("table", "json"), default="table")
    drgn_option(p)

    p = sub.add_parser("vmas", help="leaf entries per kind for each VMA of a process")
    pid_option(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    drgn_option(p)

    p = sub.add_parser("entries", help="list the leaf entries of a process")
    pid_option(p)
    p.add_argument("--range", type=_range, metavar="START-END",
                   help="only entries in [START, END)")
    p.add_argument("--vma", type=_int, metavar="ADDR",
                   help="only entries of the VMA containing ADDR")
    p.add_argument("--kind", action="append", choices=KINDS, metavar="KIND",
                   help="only entries of this kind (repeatable): " + ", ".join(KINDS))
    p.add_argument("--all", action="store_true",
                   help="also list none entries and ranges, and unreadable ranges")
    p.add_argument("--format", choices=("table", "jsonl"), default="table")
    drgn_option(p)

    p = sub.add_parser("addr", help="what is at an address: every level on the way down")
    pid_option(p)
    p.add_argument("address", type=_int)
    drgn_option(p)

    p = sub.add_parser(
        "leaks",
        help="triage migration entries (leaked, stuck, in flight) and impossible states",
        description="Scan every address space once; group migration entries by folio and "
        "give each a verdict: in-flight (locked, a task is migrating it), stuck (locked, "
        "nobody migrating it, or the folio is not what the entries say) or leaked (not "
        "locked: nothing will ever remove the entries). Also report tasks in the migration "
        "wait path and other impossible states. Exit status: 0 no findings, 1 findings, "
        "2 error, 3 the scan was incomplete and found nothing else.",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    drgn_option(p)

    p = sub.add_parser("decode", help="decode a raw page-table entry value")
    p.add_argument("value", type=_int)
    p.add_argument("--level", choices=("pte", "pmd", "pud"),
                   help="decode at this level only (default: all)")
    p.add_argument("--hugetlb", action="store_true",
                   help="the entry belongs to a hugetlb VMA (PMD/PUD follow the PTE rules)")
    drgn_option(p)
    return parser


def _space_arg(args: argparse.Namespace) -> str:
    return "kernel=True" if args.kernel_tables else f"pid={args.pid}"


def _print_code(out: IO[str], code: str) -> None:
    out.write(code.lstrip("\n"))


def _cmd_summary(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.render import make_console, render_summary
    from drgn_softleaf.scan import for_each_address_space, space_counts
    from drgn_softleaf.walk import mm_vmas

    if args.drgn:
        _print_code(out, """
from drgn_softleaf import for_each_address_space, space_counts

for space in for_each_address_space(prog):
    counts = space_counts(space)
    print(space.pid, space.comm, {kind.value: n for kind, n in counts.items()})
""")
        return EXIT_OK
    rows = []
    incomplete = False
    for space in for_each_address_space(prog):
        vmas = mm_vmas(space.mm)
        counts = space_counts(space, vmas)
        incomplete |= bool(counts.get(_kind("unreadable")))
        rows.append((space, len(vmas), counts))
    if args.format == "json":
        import json

        json.dump(
            {
                "schema": 1,
                "processes": [
                    {"pid": s.pid, "comm": s.comm, "vmas": n,
                     "counts": {k.value: v for k, v in sorted(c.items(), key=lambda kv: kv[0].value)}}
                    for s, n, c in rows
                ],
            },
            out,
        )
        out.write("\n")
    else:
        render_summary(make_console(out), rows)
    return EXIT_INCOMPLETE if incomplete else EXIT_OK


def _kind(name: str) -> Any:
    from drgn_softleaf.classify import Kind

    return Kind(name)


def _cmd_vmas(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.render import make_console, render_vmas
    from drgn_softleaf.scan import address_space, vma_counts

    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import address_space, vma_counts

space = address_space(prog, {_space_arg(args)})
for vma, counts in vma_counts(space):
    print(hex(vma.start), hex(vma.end), vma.file,
          {{kind.value: n for kind, n in counts.items()}})
""")
        return EXIT_OK
    space = address_space(prog, pid=args.pid, kernel=args.kernel_tables)
    rows = vma_counts(space)
    if args.format == "json":
        import json

        json.dump(
            {
                "schema": 1, "pid": space.pid, "comm": space.comm,
                "vmas": [
                    {"start": v.start, "end": v.end, "flags": v.flags, "file": v.file,
                     "counts": {k.value: n for k, n in c.items()}}
                    for v, c in rows
                ],
            },
            out,
        )
        out.write("\n")
    else:
        render_vmas(make_console(out), space, rows)
    return EXIT_OK


def _cmd_entries(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.classify import Kind
    from drgn_softleaf.enrich import Enricher
    from drgn_softleaf.render import entry_json, make_console, render_entries, write_json_line
    from drgn_softleaf.scan import address_space, enrich_entry, for_each_leaf_entry
    from drgn.helpers.linux.mm import vma_find

    start = end = None
    if args.range:
        start, end = args.range
    space = address_space(prog, pid=args.pid, kernel=args.kernel_tables)
    if args.vma is not None:
        vma = vma_find(space.mm, args.vma)
        if not vma:
            raise CommandFailed(f"no VMA of PID {args.pid} contains {args.vma:#x}")
        vstart, vend = vma.vm_start.value_(), vma.vm_end.value_()
        start = vstart if start is None else max(start, vstart)
        end = vend if end is None else min(end, vend)
    kinds = {Kind(k) for k in args.kind} if args.kind else None
    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import Enricher, enrich_entry, for_each_leaf_entry

enricher = Enricher(prog)
for entry in for_each_leaf_entry(prog, {_space_arg(args)}, start={start if start is None else hex(start)}, end={end if end is None else hex(end)}, include_none={args.all}):
    e = enrich_entry(enricher, entry)
    print(hex(entry.addr), entry.level, entry.kind.value, hex(entry.raw), e.folio or e.swap)
""")
        return EXIT_OK
    enricher = Enricher(prog)
    incomplete = False

    def entries() -> Any:
        nonlocal incomplete
        for entry in for_each_leaf_entry(prog, task=space.task if space.pid > 0 else None,
                                         mm=space.mm, start=start, end=end,
                                         include_none=args.all, kernel=space.kernel):
            if entry.kind == Kind.UNREADABLE:
                incomplete = True
            if kinds is not None and entry.kind not in kinds:
                continue
            yield enrich_entry(enricher, entry)

    if args.format == "jsonl" and not args.all:
        from drgn_softleaf.classify import batch_items
        from drgn_softleaf.scan import walk_address_space
        from drgn_softleaf.target import get_target
        from drgn_softleaf.render import write_entries_jsonl
        from drgn_softleaf.walk import Unreadable

        _, walk = walk_address_space(space, start=start, end=end)

        def watched() -> Any:
            nonlocal incomplete
            for item in walk:
                if isinstance(item, Unreadable):
                    incomplete = True
                yield item

        write_entries_jsonl(out, space, get_target(prog), batch_items(watched()),
                            lambda entry: enrich_entry(enricher, entry), kinds)
    elif args.format == "jsonl":
        for e in entries():
            write_json_line(out, entry_json(space, e))
    else:
        render_entries(make_console(out), space, entries())
    return EXIT_INCOMPLETE if incomplete else EXIT_OK


def _cmd_addr(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.scan import lookup_address
    from drgn_softleaf.render import make_console, render_addr
    from drgn_softleaf.scan import address_space

    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import address_space, lookup_address

space = address_space(prog, {_space_arg(args)})
lookup = lookup_address(space, {args.address:#x})
for level, entry_phys, value, what in lookup.path:
    print(level, hex(entry_phys), hex(value), what)
print(lookup.leaf)
""")
        return EXIT_OK
    space = address_space(prog, pid=args.pid, kernel=args.kernel_tables)
    lookup = lookup_address(space, args.address)
    render_addr(make_console(out), space, args.address, lookup.path, lookup.leaf, lookup.vma)
    return EXIT_OK


def _cmd_decode(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.enrich import Enricher
    from drgn_softleaf.render import make_console, render_decode
    from drgn_softleaf.scan import classify_raw, enrich_entry

    levels = [args.level] if args.level else ["pte", "pmd", "pud"]
    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import classify_raw

entry = classify_raw(prog, {args.value:#x}, level={levels[0]!r}, hugetlb={args.hugetlb})
print(entry)
""")
        return EXIT_OK
    enricher = Enricher(prog)
    rows = []
    for level in levels:
        entry = classify_raw(prog, args.value, level, hugetlb=args.hugetlb)
        label = level + (" (hugetlb)" if args.hugetlb and level != "pte" else "")
        rows.append((label, enrich_entry(enricher, entry, present=True)))
    render_decode(make_console(out), args.value, rows)
    return EXIT_OK


def _cmd_leaks(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.render import leaks_json, make_console, progress_reporter, render_leaks
    from drgn_softleaf.triage import scan_leaks

    if args.drgn:
        _print_code(out, """
from drgn_softleaf.triage import scan_leaks

report = scan_leaks(prog)
for folio in report.folios:
    print(folio.verdict, hex(folio.folio.folio), folio.folio.locked,
          [(h.pid, hex(h.addr)) for h in folio.holders])
for waiter in report.waiters:
    print("waiter", waiter.task.pid, waiter.function)
for anomaly in report.anomalies:
    print(anomaly.what, anomaly.detail)
""")
        return EXIT_OK
    report = scan_leaks(prog, progress=progress_reporter())
    if report.findings:
        status = EXIT_FINDINGS
    elif report.incomplete:
        status = EXIT_INCOMPLETE
    else:
        status = EXIT_OK
    if args.format == "json":
        import json

        json.dump(leaks_json(report, status), out, indent=1)
        out.write("\n")
    else:
        render_leaks(make_console(out), report)
    return status


_COMMANDS: Dict[str, Callable[[Program, argparse.Namespace, IO[str]], int]] = {
    "leaks": _cmd_leaks,
    "summary": _cmd_summary,
    "vmas": _cmd_vmas,
    "entries": _cmd_entries,
    "addr": _cmd_addr,
    "decode": _cmd_decode,
}


def run(prog: Program, args: argparse.Namespace, out: Optional[IO[str]] = None) -> int:
    """
    Run a parsed sub-command against *prog*, writing to *out* (default: the
    current ``sys.stdout``). Return the exit status.

    :raises CommandFailed: with a message for the user.
    """
    from drgn_softleaf.arch import UnsupportedArchitecture
    from drgn_softleaf.scan import ScanError
    from drgn_softleaf.target import TargetError

    if out is None:
        out = sys.stdout
    try:
        return _COMMANDS[args.subcommand](prog, args, out)
    except (ScanError, TargetError, UnsupportedArchitecture) as e:
        raise CommandFailed(str(e)) from None
    except FaultError as e:
        raise CommandFailed(f"cannot read kernel memory: {e}") from None


def parse(argv: List[str], prog_name: str = "softleaf") -> Optional[argparse.Namespace]:
    """Parse *argv*; ``None`` if help was printed."""
    try:
        return build_parser(prog_name).parse_args(argv)
    except ParserExit as e:
        if e.status:
            raise CommandFailed("invalid arguments") from None
        return None
