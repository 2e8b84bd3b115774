# SPDX-License-Identifier: LGPL-2.1-or-later
"""
A drgn session for the live test, run by contrib/live/driver.py as
``drgn -q -k -s VMLINUX session.py``: drgn loads the kernel's debug info
once and its plugins (drgn-softleaf's ``%softleaf`` among them), then this
script answers one JSON request per line on stdin:

- ``{"op": "run", "command": "softleaf leaks --format json"}``: the command
  through drgn's command API (what ``%softleaf ...`` at the prompt runs);
  the reply has its return value (the exit status), its output, the error
  it raised, and the time it took.
- ``{"op": "pte", "pid": P, "addr": A}``: the physical address and value
  of the PTE that maps A in P, by a plain x86-64 walk written here (not
  drgn-softleaf's), for the host to plant a leak into.
- ``{"op": "quit"}``.
"""

import contextlib
import io
import json
import os
import sys
import time

from drgn import FaultError
from drgn.commands import run_command
from drgn.helpers.linux.mm import virt_to_phys
from drgn.helpers.linux.pid import find_task

prog = globals()["prog"]  # set by drgn
reply_to = os.fdopen(os.dup(sys.stdout.fileno()), "w")


def reply(**fields):
    reply_to.write(json.dumps(fields) + "\n")
    reply_to.flush()


def run(command):
    out = io.StringIO()
    start = time.monotonic()
    status = error = None
    try:
        with contextlib.redirect_stdout(out):
            status = run_command(prog, command)
    except Exception as e:  # the command's error, reported to the driver
        error = f"{type(e).__name__}: {e}"
    return {"status": status, "stdout": out.getvalue(), "error": error,
            "seconds": round(time.monotonic() - start, 2)}


def pte(pid, addr):
    info = dict(line.split("=", 1) for line in
                prog["VMCOREINFO"].string_().decode().splitlines() if "=" in line)
    levels = 5 if int(info.get("NUMBER(pgtable_l5_enabled)", "0")) else 4
    mm = find_task(prog, pid).mm
    table = virt_to_phys(prog, mm.pgd.value_()).value_()
    for shift in (48, 39, 30, 21, 12)[5 - levels:]:
        entry = table + 8 * ((addr >> shift) & 511)
        value = prog.read_u64(entry, True)
        if shift == 12:
            break
        if not value & 1 or value & 0x80:
            return {"error": f"no PTE table: {value:#x} at shift {shift}"}
        table = value & 0x000ffffffffff000
    return {"pte_phys": entry, "pte": value, "mm": mm.value_()}


reply(hello=True)
for line in sys.stdin:
    request = json.loads(line)
    op = request["op"]
    if op == "run":
        reply(**run(request["command"]))
    elif op == "pte":
        try:
            reply(**pte(request["pid"], request["addr"]))
        except FaultError as e:
            reply(error=str(e))
    elif op == "quit":
        reply(bye=True)
        break
