# SPDX-License-Identifier: LGPL-2.1-or-later
"""
The live-test guest's driver (run as root by contrib/live/init).

Runs the fixture scenario program (contrib/fixtures/guest/scenario.c) and
drgn-softleaf against /proc/kcore, both the console script and one drgn
session (contrib/live/session.py, where ``%softleaf`` runs through drgn's
command API), and reports everything as JSON lines on the second serial
port. The host (contrib/live/harness.py) asserts nothing here: it gets the
raw results. Steps:

1. ``errors``: without debug info, and as a user without access to
   /proc/kcore, the console script's exit status and message.
2. ``quiescent``: the scenario's pages and their pagemap values (read in
   the guest), and ``entries --format jsonl`` of that process, read live by
   the console script and by the drgn session.
3. ``churn``: while the scenario migrates pages between the two NUMA nodes
   in a loop, ``leaks --format json`` again and again in the drgn session.
4. ``leak``: the scenario's leak page; the host plants a migration entry
   for it through QEMU's gdbstub (asked for with a ``plant`` record), then
   ``leaks`` in the drgn session and from the console script.
"""

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import tty
from typing import Any, Callable, Dict, List, Optional

VMLINUX = "/vmlinux"
OUT = None


def emit(rec: str, **fields: Any) -> None:
    """One JSON line to the host."""
    assert OUT is not None
    OUT.write(json.dumps({"rec": rec, **fields}) + "\n")
    OUT.flush()


def blob(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data)).decode()


def log(msg: str) -> None:
    print(f"slf-live: {msg}", file=sys.stderr, flush=True)


def cli(config: Dict[str, Any], args: List[str], user: Optional[int] = None,
        timeout: float = 900) -> Dict[str, Any]:
    """Run the console script; its exit status, output and time."""
    cmd = [config["drgn_softleaf"], *args]
    preexec: Optional[Callable[[], None]] = None
    if user is not None:
        uid = user

        def drop() -> None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        preexec = drop
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, preexec_fn=preexec)
    return {"argv": ["drgn-softleaf", *args], "user": 0 if user is None else user,
            "status": proc.returncode, "seconds": round(time.monotonic() - start, 2),
            "stdout_gz": blob(proc.stdout), "stderr": proc.stderr.decode(errors="replace")}


class Scenario:
    """The fixture scenario program in one mode, its records in a file."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.path = f"/tmp/scenario-{mode}.jsonl"
        self.proc = subprocess.Popen(["/scenario", mode], env={**os.environ, "SLF_OUT": self.path})
        self.records = self._wait_ready()
        self.pid = next(r["pid"] for r in self.records if r["rec"] == "meta")

    def _wait_ready(self, timeout: float = 300) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"scenario {self.mode} exited with {self.proc.returncode}")
            records = []
            if os.path.exists(self.path):
                with open(self.path, errors="replace") as f:
                    for line in f:
                        if line.startswith("{"):
                            try:
                                records.append(json.loads(line))
                            except json.JSONDecodeError:
                                pass
            if any(r["rec"] == "ready" for r in records):
                return records
            time.sleep(0.5)
        raise SystemExit(f"scenario {self.mode} not ready after {timeout} s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Session:
    """One drgn session (``drgn -k -s VMLINUX session.py``) taking commands
    on its stdin."""

    def __init__(self, config: Dict[str, Any]) -> None:
        start = time.monotonic()
        self.proc = subprocess.Popen(
            [config["drgn"], "-q", "-k", "-s", VMLINUX, "/live/session.py"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not hello:
            raise SystemExit("the drgn session did not start")
        self.startup = round(time.monotonic() - start, 2)

    def ask(self, **request: Any) -> Dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the drgn session died on {request}")
        return json.loads(line)

    def softleaf(self, args: str) -> Dict[str, Any]:
        return self.ask(op="run", command="softleaf " + args)

    def close(self) -> None:
        self.ask(op="quit")
        self.proc.wait()


def read_int(pid: int, addr: int) -> int:
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(addr)
        return int.from_bytes(f.read(4), "little")


def page(records: List[Dict[str, Any]], region: str) -> Dict[str, Any]:
    return next(r for r in records if r["rec"] == "page" and r["region"] == region)


def step_errors(config: Dict[str, Any]) -> None:
    emit("errors", no_debug_info=cli(config, ["-k", "summary"]),
         not_root=cli(config, ["-k", "-s", VMLINUX, "summary"], user=65534))


def step_quiescent(config: Dict[str, Any], session: Session) -> Scenario:
    sc = Scenario("quiescent")
    emit("quiescent_records", records_gz=blob(json.dumps(sc.records).encode()))
    emit("quiescent_cli", pid=sc.pid,
         entries=cli(config, ["-k", "-s", VMLINUX, "entries", "-p", str(sc.pid),
                              "--format", "jsonl"]),
         leaks=cli(config, ["-k", "-s", VMLINUX, "leaks", "--format", "json"]))
    got = session.softleaf(f"entries -p {sc.pid} --format jsonl")
    emit("quiescent_session", pid=sc.pid, status=got["status"], seconds=got["seconds"],
         error=got["error"], stdout_gz=blob(got["stdout"].encode()))
    return sc


def step_churn(config: Dict[str, Any], session: Session) -> None:
    sc = Scenario("migrate")
    # The scenario waits 8 s after it is ready (for a debugger in the
    # fixture build), then migrates in a loop.
    time.sleep(10)
    rounds = config["rounds"]
    deadline = time.monotonic() + config["churn_seconds"]
    n = 0
    while n < rounds or time.monotonic() < deadline:
        if sc.proc.poll() is not None:
            raise SystemExit("the migrate scenario exited")
        got = session.softleaf("leaks --format json")
        emit("churn", round=n, status=got["status"], seconds=got["seconds"],
             error=got["error"], report=json.loads(got["stdout"]) if got["stdout"] else None)
        n += 1
        if n >= config["max_rounds"]:
            break
    moved = read_vmstat("pgmigrate_success")
    emit("churn_done", rounds=n, pgmigrate_success=moved)
    sc.stop()


def read_vmstat(name: str) -> Optional[int]:
    with open("/proc/vmstat") as f:
        for line in f:
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    return None


def step_leak(config: Dict[str, Any], session: Session) -> None:
    sc = Scenario("leak")
    leak, flag = page(sc.records, "leak_page"), page(sc.records, "leak_flag")
    pfn = leak["pagemap"] & ((1 << 55) - 1)
    flag_phys = ((flag["pagemap"] & ((1 << 55) - 1)) << 12) + (flag["addr"] & 0xfff)
    pte = session.ask(op="pte", pid=sc.pid, addr=leak["addr"])
    emit("plant", pid=sc.pid, addr=leak["addr"], pfn=pfn, flag_phys=flag_phys, **pte)
    deadline = time.monotonic() + 300
    while read_int(sc.pid, flag["addr"]) != 1:
        if time.monotonic() > deadline:
            raise SystemExit("the host did not plant the leak")
        time.sleep(0.2)
    # Let the toucher thread meet the planted entry.
    time.sleep(1)
    got = session.softleaf("leaks --format json")
    emit("leak_session", pid=sc.pid, pfn=pfn, status=got["status"], seconds=got["seconds"],
         error=got["error"], report=json.loads(got["stdout"]) if got["stdout"] else None)
    emit("leak_cli", pid=sc.pid, pfn=pfn, leaks=cli(config, ["-k", "-s", VMLINUX, "leaks"]))


def main() -> None:
    global OUT
    with open(sys.argv[1]) as f:
        config = json.load(f)
    fd = os.open("/dev/ttyS1", os.O_WRONLY | os.O_NOCTTY)
    tty.setraw(fd)
    OUT = os.fdopen(fd, "w")
    emit("boot", uname=os.uname().release, python=sys.version.split()[0])
    try:
        step_errors(config)
        session = Session(config)
        emit("session", startup=session.startup)
        quiescent = step_quiescent(config, session)
        step_churn(config, session)
        step_leak(config, session)
        session.close()
        quiescent.stop()
        emit("done")
    except BaseException as e:  # report, then let init power off
        import traceback

        emit("failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())


if __name__ == "__main__":
    main()
