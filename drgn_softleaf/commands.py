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


_U64_MAX = (1 << 64) - 1
# pid_t is a C int.
_PID_MAX = (1 << 31) - 1


def _int(s: str) -> int:
    try:
        return int(s, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {s!r}") from None


def _u64(s: str) -> int:
    """A 64-bit value: an address or a page-table entry."""
    v = _int(s)
    if not 0 <= v <= _U64_MAX:
        raise argparse.ArgumentTypeError(f"{s!r} is not a 64-bit value (0 to {_U64_MAX:#x})")
    return v


def _pid(s: str) -> int:
    try:
        v = int(s, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid PID: {s!r}") from None
    if not 0 <= v <= _PID_MAX:
        raise argparse.ArgumentTypeError(f"invalid PID: {s!r} (PIDs are 0 to {_PID_MAX})")
    return v


def _range(s: str) -> Tuple[int, int]:
    start, sep, end = s.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START-END, got {s!r}")
    lo, hi = _u64(start), _int(end)
    # END may be 2^64, the end of the address space.
    if not 0 <= hi <= 1 << 64:
        raise argparse.ArgumentTypeError(f"{end!r} is not a 64-bit address")
    if hi <= lo:
        raise argparse.ArgumentTypeError(f"empty range {s!r}")
    return lo, hi


def _confirmations(s: str) -> int:
    n = _int(s)
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError(f"{s!r} is not between 1 and 100")
    return n


def _interval(s: str) -> float:
    try:
        value = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number of seconds") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{s!r} is not between 0 and 60 seconds")
    return value


class _Once(argparse.Action):
    """Store an option's value, refusing a second one (a repeated ``-p``
    silently keeping the last would answer about another process)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            raise argparse.ArgumentError(self, "given more than once")
        setattr(namespace, self.dest, values)


def _kind_names() -> List[str]:
    """The names ``--kind`` takes: :class:`~drgn_softleaf.classify.Kind`'s,
    none and unreadable last (imported when a parser is built, not when the
    plugin is)."""
    from drgn_softleaf.classify import Kind

    names = [k.value for k in Kind if k not in (Kind.NONE, Kind.UNREADABLE)]
    return names + [Kind.NONE.value, Kind.UNREADABLE.value]

_EXIT_STATUS = (
    "exit status: 0 nothing impossible found; 1 findings (impossible entries; for "
    "leaks, leaked or stuck folios, anomalies, counter mismatches); 2 error (bad "
    "arguments, no such process, unreadable program); 3 the scan was incomplete (page "
    "tables, struct pages or swap devices could not be read) and found nothing else; "
    "130 interrupted."
)


def subcommands() -> Tuple[str, ...]:
    """The sub-command names."""
    return tuple(_COMMANDS)


def build_parser(prog_name: str = "softleaf", parents: Sequence[argparse.ArgumentParser] = ()) -> _Parser:
    """Build the parser for the sub-commands."""
    import textwrap

    example_prog = "%softleaf" if prog_name.startswith("%") else prog_name
    parser = _Parser(
        prog=prog_name,
        parents=list(parents),
        description=textwrap.fill(
            "Classify page-table leaf entries the way the kernel does "
            "(include/linux/leafops.h): present, swap, migration, device, hwpoison, "
            "markers.", 79),
        epilog=textwrap.fill(_EXIT_STATUS, 79) + "\n\n"
        + f"Run '{example_prog} COMMAND --help' for each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help: str, description: str, examples: Sequence[str]) -> argparse.ArgumentParser:
        lines = [_EXIT_STATUS, "", "examples:"]
        lines += [f"  {example_prog} {e}" for e in examples]
        epilog = "\n".join(textwrap.fill(line, 79) if not line.startswith(" ") else line
                           for line in lines)
        return sub.add_parser(name, help=help, description=description, epilog=epilog,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    for arguments in _ARGUMENTS:
        arguments(add)
    return parser


def _drgn_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drgn", action="store_true",
                   help="print drgn-softleaf Python API code that does the same "
                   "(for a drgn session, where `prog` is defined) instead of running")


def _pid_option(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("-p", "--pid", type=_pid, action=_Once,
                   help="the process (its address space) to examine; give it once")
    g.add_argument("--kernel-tables", action="store_true",
                   help="the kernel's own page tables (init_mm): non-present entries "
                   "there are shown raw, not decoded")


def _summary_arguments(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``summary`` sub-command's arguments."""
    p = add("summary", "leaf entries per kind for every process",
            "Walk the page tables of every user address space once and count its leaf "
            "entries per kind. Impossible entries (a pfn past the end of memory or "
            "without a memory map, a swap entry for no active device or past its end, an "
            "invalid entry) are counted in an IMPOSSIBLE column and make the exit status 1.",
            ["summary", "summary --format json | jq '.processes[] | {pid, counts}'"])
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or one JSON document")
    _drgn_option(p)


def _vmas_arguments(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``vmas`` sub-command's arguments."""
    p = add("vmas", "leaf entries per kind for each VMA of a process",
            "Count the leaf entries of each VMA of one process per kind, with the VMA's "
            "range, permissions and file ([heap], [stack], [vdso] for special mappings).",
            ["vmas -p 1234", "vmas -p 1234 --format json"])
    _pid_option(p)
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or one JSON document")
    _drgn_option(p)


def _entries_arguments(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``entries`` sub-command's arguments."""
    p = add("entries", "list the leaf entries of a process",
            "List the leaf entries of one process in address order (none entries only with "
            "--all or --kind none), each decoded: swap type and offset with the device and "
            "slot count, the pfn and folio of migration, device and hwpoison entries, marker "
            "bits and swap-PTE flags. Impossible entries are marked.",
            ["entries -p 1234 --kind swap --kind marker",
             "entries -p 1234 --range 0x7f0000000000-0x7f0000100000",
             "entries -p 1234 --format jsonl | jq -c 'select(.anomalies != [])'"])
    _pid_option(p)
    p.add_argument("--range", type=_range, metavar="START-END", action=_Once,
                   help="only entries in [START, END) (64-bit addresses)")
    p.add_argument("--vma", type=_u64, metavar="ADDR", action=_Once,
                   help="only entries of the VMA containing ADDR")
    kinds = _kind_names()
    p.add_argument("--kind", action="append", choices=kinds, metavar="KIND",
                   help="only entries of this kind (repeatable): " + ", ".join(kinds)
                   + " (none and unreadable imply --all)")
    p.add_argument("--all", action="store_true",
                   help="also list none entries and ranges, and unreadable ranges")
    p.add_argument("--format", choices=("table", "jsonl"), default="table",
                   help="table (default) or JSON Lines, one object per entry (schema in "
                   "the README)")
    _drgn_option(p)


def _addr_arguments(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``addr`` sub-command's arguments."""
    p = add("addr", "what is at an address: every level on the way down",
            "Walk down the page tables of one process to ADDRESS: the entry at every level "
            "(its physical address, value and decoded bits), the leaf entry decoded, the "
            "physical address of the byte and, for a present page, its folio's flags, "
            "refcount and mapcount.",
            ["addr -p 1234 0x7f2a6ba31000", "addr --kernel-tables 0xffffffff81000000"])
    _pid_option(p)
    p.add_argument("address", type=_u64, help="a virtual address of the process")
    _drgn_option(p)


def _leaks_arguments(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``leaks`` sub-command's arguments."""
    from drgn_softleaf.live import DEFAULT_CONFIRMATIONS, DEFAULT_INTERVAL

    p = add("leaks",
            "triage migration entries (leaked, stuck, in flight) and impossible states",
            "Scan every address space once; group migration entries by folio and "
            "give each a verdict: in-flight (locked, a task is migrating it), stuck (locked, "
            "nobody migrating it, or the folio is not what the entries say) or leaked (not "
            "locked: nothing will ever remove the entries). Also report tasks in the migration "
            "wait path and other impossible states. Findings are shown in full; what is "
            "healthy (in-flight folios, counters that agree) is summarized unless --verbose. "
            "On a live kernel (-k) every finding is read again --confirm times, --interval "
            "seconds apart, and reported only if it persists unchanged; what re-reading "
            "refutes is counted as transient and never makes the exit status 1. This "
            "tool's own process is left out there.",
            ["leaks", "leaks --format json | jq .summary", "leaks --verbose",
             "leaks --confirm 5 --interval 1    # live: stricter confirmation"])
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="a report (default) or one JSON document")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also list in-flight folios, every counter and transient findings "
                   "in full")
    p.add_argument("--confirm", type=_confirmations, metavar="N",
                   default=DEFAULT_CONFIRMATIONS,
                   help="live kernels: read each finding again N times (1-100, default "
                   f"{DEFAULT_CONFIRMATIONS})")
    p.add_argument("--interval", type=_interval, metavar="SECONDS",
                   default=DEFAULT_INTERVAL,
                   help="live kernels: seconds between those reads (0-60, default "
                   f"{DEFAULT_INTERVAL:g})")
    _drgn_option(p)


def _decode_arguments(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``decode`` sub-command's arguments."""
    p = add("decode", "decode a raw page-table entry value",
            "Decode a raw 64-bit page-table entry as the kernel would at PTE, PMD and PUD "
            "level (or one --level).",
            ["decode 0x07ffffffffffec0a", "decode --level pmd 0x8000000001e000e7"])
    p.add_argument("value", type=_u64, help="the entry's value (0 to 2^64-1)")
    p.add_argument("--level", choices=("pte", "pmd", "pud"),
                   help="decode at this level only (default: all)")
    p.add_argument("--hugetlb", action="store_true",
                   help="the entry belongs to a hugetlb VMA (PMD/PUD follow the PTE rules)")
    _drgn_option(p)


_ARGUMENTS = (_summary_arguments, _vmas_arguments, _entries_arguments, _addr_arguments, _leaks_arguments, _decode_arguments)


def _space_arg(args: argparse.Namespace) -> str:
    return "kernel=True" if args.kernel_tables else f"pid={args.pid}"


def _print_code(out: IO[str], code: str) -> None:
    out.write(code.lstrip("\n"))


def _status(impossible: int, incomplete: bool) -> int:
    """The exit status of a listing: impossible entries are findings."""
    if impossible:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if incomplete else EXIT_OK


def _incomplete_note(out: IO[str], what: Sequence[str]) -> None:
    """Say at the end of a listing what could not be read."""
    if what:
        out.write("INCOMPLETE: could not read " + "; ".join(what) + "\n")


def _cmd_summary(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.render import make_console, render_summary
    from drgn_softleaf.scan import system_counts
    from drgn_softleaf.schema import summary_json, write_document

    if args.drgn:
        _print_code(out, """
from drgn_softleaf import for_each_address_space, space_counts
from drgn_softleaf.checks import ImpossibleCounter
from drgn_softleaf.walk import mm_vmas

for space in for_each_address_space(prog):
    vmas = mm_vmas(space.mm)
    impossible = ImpossibleCounter(prog)
    counts = space_counts(space, vmas, impossible)
    print(space.pid, space.comm, len(vmas),
          {kind.value: n for kind, n in counts.items() if kind.value != "none"},
          "impossible:", dict(impossible.counts))
""")
        return EXIT_OK
    rows, unreadable = system_counts(prog)
    impossible = sum(sum(i.values()) for _, _, _, i in rows)
    if args.format == "json":
        write_document(out, summary_json(rows, impossible, unreadable))
    else:
        render_summary(make_console(out), rows)
        _incomplete_note(out, unreadable)
    return _status(impossible, bool(unreadable))


def _kind(name: str) -> Any:
    from drgn_softleaf.classify import Kind

    return Kind(name)


def _check_range(prog: Program, space: Any, lo: int, hi: int, what: str) -> None:
    """Refuse addresses outside the address space of *space*."""
    from drgn_softleaf.target import get_target

    target = get_target(prog)
    layout = target.layout
    start, end = (layout.kernel_range if space.kernel else layout.user_range)(target.levels)
    if hi <= start or lo >= end:
        half = "kernel" if space.kernel else "user"
        raise CommandFailed(f"{what} is outside the {half} address space "
                            f"({start:#x}-{end:#x})")


def _cmd_vmas(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.render import make_console, render_vmas
    from drgn_softleaf.schema import vmas_json, write_document
    from drgn_softleaf.scan import address_space, space_vma_counts

    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import address_space, vma_counts

space = address_space(prog, {_space_arg(args)})
impossible = {{}}
for vma, counts in vma_counts(space, impossible=impossible):
    print(hex(vma.start), hex(vma.end), vma.name,
          {{kind.value: n for kind, n in counts.items() if kind.value != "none"}},
          "impossible:", dict(impossible[vma.start].counts))
""")
        return EXIT_OK
    space = address_space(prog, pid=args.pid, kernel=args.kernel_tables)
    rows, unreadable = space_vma_counts(space)
    impossible = sum(sum(i.values()) for _, _, i in rows)
    if args.format == "json":
        write_document(out, vmas_json(space, rows, impossible, unreadable))
    else:
        render_vmas(make_console(out), space, rows)
        _incomplete_note(out, unreadable)
    return _status(impossible, bool(unreadable))


def _cmd_entries(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn.helpers.linux.mm import vma_find

    from drgn_softleaf.classify import Kind
    from drgn_softleaf.jsonl import write_entries_jsonl
    from drgn_softleaf.render import make_console, render_entries
    from drgn_softleaf.scan import Listing, address_space
    from drgn_softleaf.schema import entry_json, write_json_line

    kinds = {Kind(k) for k in args.kind} if args.kind else None
    # None and unreadable entries are only produced with --all.
    include_none = args.all or bool(kinds and kinds & {Kind.NONE, Kind.UNREADABLE})
    start = end = None
    if args.range:
        start, end = args.range
    space = address_space(prog, pid=args.pid, kernel=args.kernel_tables)
    if args.range:
        _check_range(prog, space, args.range[0], args.range[1],
                     f"range {args.range[0]:#x}-{args.range[1]:#x}")
    if args.vma is not None:
        _check_range(prog, space, args.vma, args.vma + 1, f"address {args.vma:#x}")
        vma = vma_find(space.mm, args.vma)
        if not vma:
            raise CommandFailed(f"no VMA of PID {args.pid} contains {args.vma:#x}")
        vstart, vend = vma.vm_start.value_(), vma.vm_end.value_()
        start = vstart if start is None else max(start, vstart)
        end = vend if end is None else min(end, vend)
        if end <= start:
            raise CommandFailed(f"the range and the VMA at {args.vma:#x} do not overlap")
    if args.drgn:
        kind_filter = "" if kinds is None else (
            "\n    if entry.kind.value not in {" + ", ".join(repr(k.value) for k in
                                                       sorted(kinds, key=lambda k: k.value))
            + "}:\n        continue")
        _print_code(out, f"""
from drgn_softleaf import Enricher, enrich_entry, for_each_leaf_entry

enricher = Enricher(prog)
for entry in for_each_leaf_entry(prog, {_space_arg(args)}, start={start if start is None else hex(start)}, end={end if end is None else hex(end)}, include_none={include_none}):{kind_filter}
    e = enrich_entry(enricher, entry)
    print(hex(entry.addr), entry.level, entry.kind.value, hex(entry.raw), e.folio or e.swap,
          [a.what for a in e.anomalies])
""")
        return EXIT_OK
    listing = Listing(space, start=start, end=end, kinds=kinds, include_none=include_none)
    if args.format == "jsonl" and not include_none:
        write_entries_jsonl(out, space, listing.batches())
    elif args.format == "jsonl":
        for e in listing.entries():
            write_json_line(out, entry_json(space, e))
    else:
        render_entries(make_console(out), space, listing.entries(), kinds,
                       max((v.end - 1 for v in listing.vmas), default=0))
        if listing.incomplete:
            _incomplete_note(out, ["part of the page tables, struct pages or swap devices "
                                   "(marked unreadable, or with an error in DETAILS)"])
    return _status(listing.impossible, listing.incomplete)


def _cmd_addr(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.render import make_console, render_addr
    from drgn_softleaf.scan import address_space, lookup_address
    from drgn_softleaf.target import get_target

    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import address_space, get_target, lookup_address

space = address_space(prog, {_space_arg(args)})
layout = get_target(prog).layout
lookup = lookup_address(space, {args.address:#x})
for level, entry_phys, value, role in lookup.path:
    print(level, hex(entry_phys), hex(value), role, layout.entry_bit_names(value, level))
if lookup.leaf is not None:
    entry = lookup.leaf.entry
    print(entry.kind.value, entry, lookup.leaf.anomalies)
    if entry.kind.value == "present":
        print("physical address",
              hex((entry.pfn << layout.page_shift) + {args.address:#x} - entry.addr))
    print(lookup.leaf.folio or lookup.leaf.swap)
""")
        return EXIT_OK
    space = address_space(prog, pid=args.pid, kernel=args.kernel_tables)
    _check_range(prog, space, args.address, args.address + 1, f"address {args.address:#x}")
    lookup = lookup_address(space, args.address)
    render_addr(make_console(out), space, args.address, lookup,
                get_target(prog).layout.page_shift)
    if lookup.path and lookup.path[-1][3] == "unreadable":
        return EXIT_INCOMPLETE
    return EXIT_FINDINGS if lookup.leaf is not None and lookup.leaf.anomalies else EXIT_OK


def _cmd_decode(prog: Program, args: argparse.Namespace, out: IO[str]) -> int:
    from drgn_softleaf.enrich import Enricher
    from drgn_softleaf.render import make_console, render_decode
    from drgn_softleaf.scan import classify_raw, enrich_entry

    levels = [args.level] if args.level else ["pte", "pmd", "pud"]
    if args.drgn:
        _print_code(out, f"""
from drgn_softleaf import Enricher, classify_raw, enrich_entry

enricher = Enricher(prog)
for level in {levels!r}:
    entry = classify_raw(prog, {args.value:#x}, level, hugetlb={args.hugetlb})
    e = enrich_entry(enricher, entry, present=True)
    print(level, entry.kind.value, entry, e.folio or e.swap, e.anomalies)
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
    from drgn_softleaf.render import make_console, progress_reporter, render_leaks
    from drgn_softleaf.schema import leaks_json, write_document
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
    progress = progress_reporter()
    try:
        report = scan_leaks(prog, progress=progress, confirmations=args.confirm,
                            interval=args.interval)
    finally:
        if progress is not None:
            progress.close()
    if report.findings:
        status = EXIT_FINDINGS
    elif report.incomplete:
        status = EXIT_INCOMPLETE
    else:
        status = EXIT_OK
    if args.format == "json":
        write_document(out, leaks_json(report, status), indent=1)
    else:
        render_leaks(make_console(out), report, verbose=args.verbose)
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
    except ValueError as e:
        # A kernel structure that does not decode (a corrupt maple node...).
        raise CommandFailed(f"cannot decode kernel data: {e}") from None


def parse(argv: List[str], prog_name: str = "softleaf") -> Optional[argparse.Namespace]:
    """Parse *argv*; ``None`` if help was printed."""
    try:
        return build_parser(prog_name).parse_args(argv)
    except ParserExit as e:
        if e.status:
            raise CommandFailed("invalid arguments") from None
        return None
