# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn plugin
-----------

Registered in the ``drgn.plugins`` entry point group, so that every drgn
session has the ``%softleaf`` command. drgn imports every installed plugin
when it starts: this module imports nothing heavy and does no work at import
time beyond registering the command.
"""

from typing import Any, Optional, Sequence

from drgn import Program
from drgn.commands import CommandError, ParsedCommand, parse_shell_command
from drgn.commands.linux import linux_kernel_custom_command


def _parse(source: str) -> ParsedCommand[Sequence[str]]:
    return parse_shell_command(source)


@linux_kernel_custom_command(
    name="softleaf",
    description="classify page-table leaf entries as the kernel does",
    usage="**softleaf** {summary,vmas,entries,addr,leaks,decode} [*OPTION*...]",
    long_description="Walk the page tables of a process and classify every leaf "
    "entry the way include/linux/leafops.h does: present, none, swap, migration, "
    "device-private, device-exclusive, hwpoison and markers; 'leaks' triages "
    "migration entries. Run '%softleaf COMMAND --help' for each sub-command; "
    "'--drgn' prints the equivalent drgn-softleaf API code. The command "
    "returns the exit status the console script would exit with (0 nothing "
    "found, 1 findings, 3 incomplete); errors raise a CommandError.",
    parse=_parse,
)
def _cmd_softleaf(prog: Program, name: str, args: Sequence[str], **kwargs: Any) -> Optional[int]:
    # Nothing here may end the user's session: errors become a CommandError
    # (drgn prints it), a closed pipe ends the command quietly (drgn's
    # pipeline code catches BrokenPipeError), Ctrl-C is drgn's to report.
    from drgn_softleaf.commands import CommandFailed, parse, run

    try:
        ns = parse(list(args), "%softleaf")
        if ns is None:
            return None
        return run(prog, ns)
    except CommandFailed as e:
        raise CommandError(str(e)) from None
