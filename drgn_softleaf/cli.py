# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Console script
--------------

``drgn-softleaf``: the ``%softleaf`` sub-commands from a shell, on a vmcore
(``-c/-s``), the running kernel (``-k``) or, with neither, the bundled demo
vmcore.
"""

import argparse
import sys
from typing import List, Optional

__all__ = ("main",)


def _global_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("program")
    g.add_argument("-c", "--core", metavar="VMCORE", help="debug a vmcore")
    g.add_argument("-s", "--symbols", metavar="VMLINUX", action="append",
                   help="vmlinux with debug info (repeatable)")
    g.add_argument("-k", "--kernel", action="store_true", help="debug the running kernel")
    g.add_argument("--demo", metavar="NAME",
                   help="use this bundled fixture (default when neither -c nor -k is "
                   "given: linux-7.3-l5-quiescent)")
    return p


def _error(msg: str, status: int = 2) -> int:
    sys.stderr.write(f"drgn-softleaf: error: {msg}\n")
    return status


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import drgn

    prog = drgn.Program()
    if args.kernel:
        if args.core:
            raise _Usage("-k and -c cannot be used together")
        prog.set_kernel()
        _load_debug_info(prog, args.symbols)
        return prog
    core = args.core
    symbols = args.symbols
    if core is None:
        if symbols:
            raise _Usage("-s needs -c VMCORE")
        from drgn_softleaf.demo import DEMO_FIXTURE, unpack

        name = args.demo or DEMO_FIXTURE
        sys.stderr.write(f"drgn-softleaf: no -c/-k given: using the bundled demo vmcore {name}\n")
        fixture = unpack(name)
        core, symbols = str(fixture.vmcore), [str(fixture.vmlinux)]
    prog.set_core_dump(core)
    _load_debug_info(prog, symbols)
    return prog


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


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``drgn-softleaf``; returns the exit status."""
    from drgn_softleaf.commands import CommandFailed, ParserExit, build_parser

    parser = build_parser("drgn-softleaf", parents=[_global_parser()])
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
        return _error(f"missing or mismatched debug info: {e}")
    except (OSError, ValueError, drgn.FaultError) as e:
        return _error(f"cannot open the program: {e}")
    try:
        return run(prog, args)
    except CommandFailed as e:
        return _error(str(e), e.status)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
