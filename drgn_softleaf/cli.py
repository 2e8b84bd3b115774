# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Console script
--------------

``drgn-softleaf``: the ``%softleaf`` sub-commands from a shell, on a vmcore
(``-c/-s``), the running kernel (``-k``) or a bundled demo vmcore
(``--demo``). One of the three must be chosen: a script that forgot ``-c``
must not be told that all is well on some other kernel.
"""

import argparse
import sys
from typing import List, Optional, Sequence

__all__ = ("main",)


_CHOOSE = ("choose what to debug: -c VMCORE [-s VMLINUX] for a vmcore, -k for the "
           "running kernel (as root), or --demo [NAME] for a bundled demo vmcore")


def _global_parser() -> argparse.ArgumentParser:
    from drgn_softleaf.demo import DEMO_FIXTURE

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(
        "program (one of -c, -k or --demo is required; these options may also "
        "follow the sub-command)")
    g.add_argument("-c", "--core", metavar="VMCORE", help="debug a vmcore")
    g.add_argument("-s", "--symbols", metavar="VMLINUX", action="append",
                   help="vmlinux with debug info (repeatable; default: where drgn "
                   "finds it for the kernel's build ID)")
    g.add_argument("-k", "--kernel", action="store_true",
                   help="debug the running kernel (/proc/kcore, needs root)")
    g.add_argument("--demo", metavar="NAME", nargs="?", const=DEMO_FIXTURE,
                   help=f"debug a bundled demo vmcore (default {DEMO_FIXTURE}; "
                   "'--demo list' lists them)")
    return p


# Global options, wherever they appear: flags, and options with a value.
_GLOBAL_FLAGS = ("-k", "--kernel")
_GLOBAL_VALUED = ("-c", "--core", "-s", "--symbols")


def _hoist_globals(argv: List[str], subcommands: Sequence[str]) -> List[str]:
    """
    Move the global options (``-c``, ``-s``, ``-k``, ``--demo``) in front of
    the sub-command, so that they work after it too, and give ``--demo`` its
    optional name explicitly (``--demo leaks`` is the default demo and the
    ``leaks`` sub-command, not a demo named ``leaks``).
    """
    front: List[str] = []
    rest: List[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif arg in _GLOBAL_VALUED and i + 1 < len(argv):
            front.extend(argv[i:i + 2])
            i += 1
        elif any(arg.startswith(o + "=") for o in _GLOBAL_VALUED if o.startswith("--")) \
                or arg.startswith("--demo="):
            front.append(arg)
        elif arg == "--demo":
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and not nxt.startswith("-") and nxt not in subcommands:
                front.append(f"--demo={nxt}")
                i += 1
            else:
                from drgn_softleaf.demo import DEMO_FIXTURE

                front.append(f"--demo={DEMO_FIXTURE}")
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _error(msg: str, status: int = 2) -> int:
    sys.stderr.write(f"drgn-softleaf: error: {msg}\n")
    return status


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import drgn

    chosen = [o for o, v in (("-c", args.core), ("-k", args.kernel),
                             ("--demo", args.demo)) if v]
    if len(chosen) > 1:
        raise _Usage(f"{' and '.join(chosen)} cannot be used together")
    if not chosen:
        raise _Usage(_CHOOSE)
    prog = drgn.Program()
    if args.kernel:
        prog.set_kernel()
        _load_debug_info(prog, args.symbols)
        return prog
    core = args.core
    symbols = args.symbols
    if core is None:
        if symbols:
            raise _Usage("-s needs -c VMCORE")
        from drgn_softleaf.demo import unpack

        fixture = unpack(args.demo)
        core, symbols = str(fixture.vmcore), [str(fixture.vmlinux)]
    prog.set_core_dump(core)
    _load_debug_info(prog, symbols)
    missing = _elf_truncation(core)
    if missing:
        sys.stderr.write(f"drgn-softleaf: warning: {core} is truncated: {missing}; what lies "
                         "there cannot be read, and results that need it are marked "
                         "incomplete (exit status 3)\n")
    return prog


def _elf_truncation(path: str) -> Optional[str]:
    """
    If *path* is an ELF core dump cut short (copied halfway, a full disk),
    say how much of its memory is missing; ``None`` if it is whole or not
    an ELF file (kdump-compressed dumps are checked by drgn as it reads).
    """
    import os
    import struct

    try:
        with open(path, "rb") as f:
            eh = f.read(64)
            if len(eh) < 64 or eh[:4] != b"\x7fELF" or eh[4] != 2:
                return None
            end = "<" if eh[5] == 1 else ">"
            phoff, = struct.unpack_from(end + "Q", eh, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", eh, 54)
            if phnum == 0xFFFF or phentsize < 56:  # PN_XNUM, or not ELF64 headers
                return None
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    missing = 0
    first = None
    for i in range(min(phnum, len(ph) // max(phentsize, 1))):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from(
            end + "IIQQQQ", ph, i * phentsize)
        if p_type != 1 or p_offset + p_filesz <= size:  # PT_LOAD
            continue
        cut = max(0, size - p_offset)
        missing += p_filesz - cut
        if first is None or p_paddr + cut < first:
            first = p_paddr + cut
    if not missing:
        return None
    amount = f"{missing >> 20} MiB" if missing >= 1 << 20 else f"{missing} bytes"
    return (f"{amount} of memory are missing (from physical address {first:#x}; "
            f"the file has {size} bytes)")


def _load_debug_info(prog, symbols):  # type: ignore[no-untyped-def]
    import logging

    import drgn

    # drgn logs a warning for a vmlinux that does not match; we say it once
    # below, in our own words.
    logger = logging.getLogger("drgn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        if symbols:
            prog.load_debug_info(symbols)
        else:
            prog.load_default_debug_info()
    finally:
        logger.setLevel(level)
    try:
        prog.type("struct mm_struct")
    except LookupError:
        what = " ".join(symbols) if symbols else "the default debug info"
        raise drgn.MissingDebugInfoError(
            f"{what} does not match this kernel (build ID differs) or has no debug info"
        ) from None


class _Usage(Exception):
    pass


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that the interpreter's
    final flush does not complain."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``drgn-softleaf``; returns the exit status."""
    try:
        status = _main(sys.argv[1:] if argv is None else argv)
        # What is still buffered goes now, where a closed pipe can be
        # handled, not at exit.
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        sys.stderr.write("drgn-softleaf: interrupted\n")
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as e:  # noqa: BLE001 - status 1 means findings: never for a bug
        import os

        if os.environ.get("DRGN_SOFTLEAF_DEBUG"):
            raise
        return _error(f"internal error: {type(e).__name__}: {e} (set DRGN_SOFTLEAF_DEBUG=1 "
                      "for the traceback)")


def _main(argv: List[str]) -> int:
    from drgn_softleaf.commands import CommandFailed, ParserExit, build_parser, subcommands

    parser = build_parser("drgn-softleaf", parents=[_global_parser()])
    argv = _hoist_globals(argv, subcommands())
    if "--demo=list" in argv:
        from drgn_softleaf.demo import fixtures_dir, list_fixtures

        names = list_fixtures()
        if not names:
            return _error(f"no bundled fixtures in {fixtures_dir()}")
        sys.stdout.write("".join(n + "\n" for n in names))
        return 0
    try:
        args = parser.parse_args(argv)
    except CommandFailed as e:
        return _error(str(e))
    except ParserExit as e:  # --help
        return e.status
    import drgn

    from drgn_softleaf.commands import run
    from drgn_softleaf.demo import FixtureError

    try:
        prog = _load(args)
    except _Usage as e:
        return _error(str(e))
    except FixtureError as e:
        return _error(str(e))
    except FileNotFoundError as e:
        return _error(f"{e.filename or e}: no such file")
    except PermissionError as e:
        return _error(f"{e.filename or e}: permission denied (the live kernel needs root)")
    except drgn.MissingDebugInfoError as e:
        hint = "" if args.symbols else (
            " (no -s given: drgn looked where distributions install it, such as "
            "/usr/lib/debug/lib/modules/RELEASE/vmlinux, and asked debuginfod; give "
            "the kernel's vmlinux with -s VMLINUX)")
        return _error(f"missing or mismatched debug info: {e}{hint}")
    except (OSError, ValueError, drgn.FaultError) as e:
        return _error(f"cannot open the program: {e}")
    try:
        return run(prog, args)
    except CommandFailed as e:
        return _error(str(e), e.status)
    except BrokenPipeError:
        _quiet_stdout()
        return 0


if __name__ == "__main__":
    sys.exit(main())
