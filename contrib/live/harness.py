#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Boot a fixture kernel in QEMU and run drgn-softleaf live inside it.

    python3 contrib/live/harness.py [--rounds 10] [--churn-seconds S] [--work DIR] [--keep]

The guest is the 7.3 fixture kernel (its image is committed as
fixtures/vmcores/kernel-7.3.bzImage; contrib/fixtures/build.py rebuilds it
byte for byte, and its vmlinux is the one in kernel-7.3.tar.xz) with an
initramfs made here from:

- busybox (Debian's busybox-static) and the fixture scenario program
  (contrib/fixtures/guest/scenario.c, compiled static);
- this very Python environment: the interpreter and the shared libraries it
  and its extension modules load, its standard library, the virtual
  environment's site-packages (drgn, rich, NumPy, drgn-softleaf) and the
  repository's package, all at the same paths as here;
- the fixture vmlinux, for ``-s``;
- contrib/live/init (PID 1), driver.py and session.py.

The guest reports JSON lines on its second serial port (see driver.py);
when it asks for a leak to be planted, this harness writes a migration
entry into the PTE it names through QEMU's gdbstub (physical-memory mode),
as contrib/fixtures/freeze.py does for the leak fixture. The records are
printed (or returned by :func:`run_live`), and tests/test_live.py asserts
them.

Needs qemu-system-x86, gdb, gcc with static glibc (libc6-dev), busybox-static
and cpio; no root (QEMU runs under TCG).
"""

import argparse
import base64
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "fixtures"))

from freeze import SWP_MIGRATION_WRITE, x86_swp_pte  # noqa: E402

KERNEL_IMAGE = REPO / "fixtures" / "vmcores" / "kernel-7.3.bzImage"
KERNEL = "7.3"
DEMO = "linux-7.3-l5-quiescent"

# What the guest does not need from this Python environment.
SKIP_NAMES = {
    "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
    "pip", "setuptools", "mypy", "mypyc", "_pytest", "pytest", "pyflakes", "__phello__",
    "config-3", "pydoc_data", "site-packages", "dist-packages",
}
SKIP_PREFIXES = ("pip-", "setuptools-", "mypy-", "pytest-", "pyflakes-")


class HarnessError(Exception):
    """The live guest could not be run."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] live: {msg}", file=sys.stderr, flush=True)


def _skip(path: Path) -> bool:
    name = path.name
    return (name in SKIP_NAMES or name.startswith(SKIP_PREFIXES)
            or "__mypyc" in name or name.startswith("config-3"))


def _copy_tree(src: Path, root: Path) -> List[Path]:
    """Copy *src* to the same path under *root*; return the ELF files."""
    elves = []
    for dirpath, dirnames, filenames in os.walk(src):
        d = Path(dirpath)
        dirnames[:] = [n for n in dirnames if not _skip(d / n)]
        (root / d.relative_to("/")).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d.relative_to("/"), 0o755)
        for n in filenames:
            f = d / n
            if _skip(f):
                continue
            dest = root / f.relative_to("/")
            if f.is_symlink():
                os.symlink(os.readlink(f), dest)
                continue
            shutil.copy2(f, dest)
            if n.endswith(".so") or ".so." in n:
                elves.append(f)
    return elves


def _copy_file(src: Path, root: Path) -> None:
    """Copy *src* to the same path under *root*, and every symbolic link on
    the way to the file it names (a venv's python -> python3 -> the base
    interpreter), as links."""
    for _ in range(40):
        dest = root / src.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not src.is_symlink():
            if not dest.exists():
                shutil.copy2(src, dest)
            return
        target = os.readlink(src)
        if not dest.is_symlink() and not dest.exists():
            os.symlink(target, dest)
        src = Path(os.path.normpath(src.parent / target))
    raise HarnessError(f"too many symbolic links at {src}")


def _shared_libraries(elves: Iterable[Path]) -> Set[Path]:
    """Every library the dynamic loader would load for *elves*."""
    libs: Set[Path] = set()
    for elf in elves:
        proc = subprocess.run(["ldd", str(elf)], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            parts = line.split()
            for p in parts:
                if p.startswith("/"):
                    libs.add(Path(p))
    return libs


def _python_env(root: Path) -> Path:
    """Copy this Python environment into *root*; return the interpreter
    the guest runs (this environment's, at the same path)."""
    paths = sysconfig.get_paths()
    exe = Path(sys.executable)
    elves = [Path(os.path.realpath(exe))]
    # The interpreter as this environment names it (a venv's symlinks), and
    # its scripts (drgn, drgn-softleaf).
    for p in {Path(sys.prefix) / "bin", exe.parent}:
        for f in p.iterdir():
            if f.is_file():
                _copy_file(f, root)
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if cfg.exists():
        _copy_file(cfg, root)
    elves += _copy_tree(Path(paths["stdlib"]), root)
    for key in ("platstdlib", "purelib", "platlib"):
        if not (root / Path(paths[key]).relative_to("/")).exists():
            elves += _copy_tree(Path(paths[key]), root)
    # An editable install of drgn-softleaf maps the package to the
    # repository: copy it there too.
    import drgn_softleaf

    package = Path(drgn_softleaf.__file__).resolve().parent
    if not (root / package.relative_to("/")).exists():
        _copy_tree(package, root)
    for lib in _shared_libraries(elves):
        _copy_file(lib, root)
    return exe


def build_initramfs(work: Path, vmlinux: Path, config: Dict[str, Any]) -> Path:
    """The guest's initramfs (an uncompressed cpio archive) in *work*."""
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "mnt", "tmp", "live"):
        (root / d).mkdir(parents=True)
    log("compiling the scenario program")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "scenario"),
                    str(REPO / "contrib" / "fixtures" / "guest" / "scenario.c"), "-lpthread"],
                   check=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, root / "bin" / "busybox")
    shutil.copy(HERE / "init", root / "init")
    os.chmod(root / "init", 0o755)
    for name in ("driver.py", "session.py"):
        shutil.copy(HERE / name, root / "live" / name)
    log("copying this Python environment")
    python = _python_env(root)
    bindir = Path(sys.prefix) / "bin"
    config = {**config, "drgn_softleaf": str(bindir / "drgn-softleaf"),
              "drgn": str(bindir / "drgn")}
    (root / "live" / "config.json").write_text(json.dumps(config))
    (root / "live" / "python").write_text(str(python))
    os.link(vmlinux, root / "vmlinux") if os.stat(vmlinux).st_dev == os.stat(work).st_dev \
        else shutil.copy(vmlinux, root / "vmlinux")
    log("packing the initramfs")
    files = subprocess.run(["find", "."], cwd=root, check=True, capture_output=True).stdout
    image = work / "initramfs.cpio"
    with open(image, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files,
                       stdout=f, check=True)
    shutil.rmtree(root)
    log(f"initramfs: {image.stat().st_size / 1e6:.0f} MB")
    return image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plant(gdb_port: int, rec: Dict[str, Any], out: Path) -> Dict[str, Any]:
    """Write a migration-write entry for the page the PTE maps into the
    PTE, and 1 into the scenario's flag, through the gdbstub (the guest is
    stopped while gdb is attached)."""
    if "pte_phys" not in rec:
        raise HarnessError(f"the guest found no PTE to plant into: {rec}")
    pfn = rec["pfn"]
    if rec["pte"] & 0x000ffffffffff000 != pfn << 12 or not rec["pte"] & 1:
        raise HarnessError(f"PTE {rec['pte']:#x} does not map pfn {pfn:#x}")
    value = x86_swp_pte(SWP_MIGRATION_WRITE[KERNEL], pfn)
    script = f"""set pagination off
set confirm off
set architecture i386:x86-64
target remote 127.0.0.1:{gdb_port}
maintenance packet Qqemu.PhyMemMode:1
set {{unsigned long}}{rec['pte_phys']:#x} = {value:#x}
set {{int}}{rec['flag_phys']:#x} = 1
printf "SLF-MARK pte=%lx\\n", *(unsigned long *){rec['pte_phys']:#x}
maintenance packet Qqemu.PhyMemMode:0
detach
"""
    path = out / "gdb-plant"
    path.write_text(script)
    proc = subprocess.run(["gdb", "-nx", "-batch", "-x", str(path)], capture_output=True,
                          text=True, timeout=120)
    (out / "gdb.log").write_text(proc.stdout + proc.stderr)
    if f"SLF-MARK pte={value:x}" not in proc.stdout:
        raise HarnessError(f"planting failed; see {out / 'gdb.log'}")
    return {"planted": value, "pte_phys": rec["pte_phys"], "old_pte": rec["pte"], "pfn": pfn}


def run_live(work: Path, *, rounds: int = 10, churn_seconds: float = 0, max_rounds: int = 40,
             kernel: Path = KERNEL_IMAGE, vmlinux: Optional[Path] = None,
             timeout: float = 1800, keep: bool = False) -> List[Dict[str, Any]]:
    """
    Boot the guest and return every record it sent (plus a ``planted``
    record for the leak this harness planted and ``qemu`` for how the guest
    ended).

    :param rounds: At least this many ``leaks`` scans during the churn.
    :param churn_seconds: ... and go on until this many seconds passed.
    :param keep: Keep the initramfs (about 450 MB) in *work*.
    """
    if vmlinux is None:
        from drgn_softleaf.demo import unpack

        vmlinux = unpack(DEMO).vmlinux
    for tool in ("qemu-system-x86_64", "gdb", "gcc", "cpio"):
        if shutil.which(tool) is None:
            raise HarnessError(f"{tool} is not installed (apt-get install qemu-system-x86 gdb "
                               "gcc libc6-dev busybox-static cpio)")
    if not kernel.exists():
        raise HarnessError(f"no kernel image at {kernel}")
    work.mkdir(parents=True, exist_ok=True)
    initrd = build_initramfs(work, vmlinux, {"rounds": rounds, "churn_seconds": churn_seconds,
                                             "max_rounds": max_rounds})
    sock_path = work / "ctl.sock"
    sock_path.unlink(missing_ok=True)
    gdb_port = _free_port()
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "3072M",
        "-object", "memory-backend-ram,id=m0,size=1536M",
        "-numa", "node,nodeid=0,memdev=m0,cpus=0",
        "-object", "memory-backend-ram,id=m1,size=1536M",
        "-numa", "node,nodeid=1,memdev=m1,cpus=1",
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "console=ttyS0 nokaslr init_on_free=1 transparent_hugepage=madvise "
        "hugepagesz=2M hugepages=8 panic=-1 loglevel=4",
        "-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
        "-serial", f"file:{work / 'console.log'}",
        "-chardev", f"socket,id=ctl,path={sock_path},server=on,wait=off",
        "-serial", "chardev:ctl",
        "-gdb", f"tcp:127.0.0.1:{gdb_port}",
    ]
    log("booting: " + " ".join(cmd))
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    records: List[Dict[str, Any]] = []
    started = time.monotonic()
    try:
        sock = None
        while sock is None:
            try:
                sock = socket.socket(socket.AF_UNIX)
                sock.connect(str(sock_path))
            except OSError:
                sock = None
                if qemu.poll() is not None:
                    raise HarnessError(f"QEMU exited with {qemu.returncode}")
                time.sleep(0.2)
        sock.settimeout(5)
        buf = b""
        while True:
            if time.monotonic() - started > timeout:
                raise HarnessError(f"the guest did not finish in {timeout} s")
            try:
                chunk = sock.recv(1 << 16)
            except socket.timeout:
                if qemu.poll() is not None:
                    break
                continue
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if not line.startswith(b"{"):
                    continue
                rec = json.loads(line)
                records.append(rec)
                log(f"guest: {rec['rec']} " + ", ".join(
                    f"{k}={v}" for k, v in rec.items()
                    if k in ("status", "seconds", "round", "error", "rounds", "startup")))
                if rec["rec"] == "plant":
                    records.append({"rec": "planted", **_plant(gdb_port, rec, work)})
                if rec["rec"] in ("done", "failed"):
                    break
            if records and records[-1]["rec"] in ("done", "failed"):
                break
        qemu.wait(timeout=120)
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        if not keep:
            initrd.unlink(missing_ok=True)
    records.append({"rec": "qemu", "returncode": qemu.returncode,
                    "seconds": round(time.monotonic() - started, 1)})
    return records


def unblob(text: str) -> bytes:
    """The bytes of a ``*_gz`` field."""
    return gzip.decompress(base64.b64decode(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--rounds", type=int, default=10,
                        help="at least this many leaks scans while pages migrate")
    parser.add_argument("--churn-seconds", type=float, default=0,
                        help="and go on migrating and scanning this long")
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--output", type=Path, help="write the records here (JSON lines)")
    parser.add_argument("--keep", action="store_true", help="keep the initramfs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="softleaf-live-"))
    try:
        records = run_live(work, rounds=args.rounds, churn_seconds=args.churn_seconds,
                           keep=args.keep)
    except HarnessError as e:
        raise SystemExit(f"live: {e}")
    out = open(args.output, "w") if args.output else sys.stdout
    for rec in records:
        out.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
