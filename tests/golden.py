# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Golden outputs of the sub-commands on the fixtures: one file per dump and
command, holding the command line, its output and its exit status.

    python tests/golden.py        # regenerate tests/golden/*/*.txt

The test (test_cli.py) runs the same commands and diffs against these files.
In a command line, ``{pid}`` is the scenario's PID, ``{addr:KIND}`` the
address of the first page of that kind the guest program recorded (its
manifest), ``{region:NAME}`` the first present page of that region, and
``{raw:KIND}`` the value of the first entry of that kind in
the scenario's address space.
"""

import io
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
MANIFESTS = HERE.parent / "fixtures" / "vmcores"

_NONPRESENT = ["--kind", "swap", "--kind", "marker", "--kind", "hwpoison",
               "--kind", "device_private_read", "--kind", "device_private_write",
               "--kind", "device_exclusive"]
_MIGRATION = ["--kind", "migration_read", "--kind", "migration_read_exclusive",
              "--kind", "migration_write"]

# Every fixture the triage report is kept for (all of them).
_LEAKS_FIXTURES = (
    "linux-7.3-l5-quiescent", "linux-7.3-l4-quiescent", "linux-7.3-l5-migrate",
    "linux-7.3-l5-leak", "linux-7.3-l5-numa", "linux-7.3-l5-perf", "linux-6.12-l5-quiescent",
    "linux-6.1-l5-quiescent", "linux-6.1-l5-migrate", "linux-6.1-l5-leak",
    "linux-6.1-l5-swapcount", "linux-5.10-l5-quiescent", "linux-5.10-l5-migrate",
    "linux-5.10-l5-leak", "linux-5.10-l5-swapcount", "linux-7.3-l5-paths",
    "linux-7.3-l5-device", "linux-7.3-l5-split", "linux-7.3-l5-rwp",
    "linux-7.3-l5-swapcount", "linux-7.3ksm-l5-ksm", "linux-7.3-arm64-l5-quiescent",
    "linux-7.3-arm64-l4-quiescent", "linux-7.3-arm64-l5-migrate", "linux-7.3-arm64-l5-leak",
    "linux-7.3-arm64-64k-l3-quiescent", "linux-6.1-arm64-l4-quiescent",
)
# The quiescent dumps, with every entry kind their kernel has.
_QUIESCENT = ("linux-7.3-l5-quiescent", "linux-6.12-l5-quiescent", "linux-6.1-l5-quiescent",
              "linux-5.10-l5-quiescent", "linux-7.3-arm64-l5-quiescent",
              "linux-7.3-arm64-64k-l3-quiescent", "linux-6.1-arm64-l4-quiescent")
_KINDS = ("present", "swap", "marker", "hwpoison", "device_private_write", "device_exclusive")


def _kinds(fixture: str) -> List[str]:
    """The kinds of :data:`_KINDS` the guest program made in *fixture*."""
    manifest = json.loads((MANIFESTS / fixture / "manifest.json").read_text())
    made = {p["kind"] for p in manifest["pages"]}
    return [k for k in _KINDS if k in made]


# (fixture, file name, sub-command argv)
CASES: List[Tuple[str, str, List[str]]] = [
    ("linux-7.3-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-7.3-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-7.3-l5-quiescent", "entries-nonpresent.txt", ["entries", "-p", "{pid}"] + _NONPRESENT),
    ("linux-7.3-l5-migrate", "entries-migration.txt", ["entries", "-p", "{pid}"] + _MIGRATION),
    ("linux-6.12-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-6.1-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-6.1-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-5.10-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-5.10-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-7.3-arm64-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-7.3-arm64-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-7.3-arm64-l5-quiescent", "entries-nonpresent.txt",
     ["entries", "-p", "{pid}"] + _NONPRESENT),
    ("linux-7.3-arm64-l5-migrate", "entries-migration.txt",
     ["entries", "-p", "{pid}"] + _MIGRATION),
    ("linux-7.3-arm64-64k-l3-quiescent", "summary.txt", ["summary"]),
    ("linux-7.3-arm64-64k-l3-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-6.1-arm64-l4-quiescent", "summary.txt", ["summary"]),
    ("linux-6.1-arm64-l4-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
]
CASES += [(f, "leaks.txt", ["leaks"]) for f in _LEAKS_FIXTURES]
CASES += [(f, "leaks-verbose.txt", ["leaks", "--verbose"])
          for f in ("linux-7.3-l5-migrate", "linux-6.1-l5-migrate", "linux-7.3-l5-paths")]
CASES += [(f, "leaks.json", ["leaks", "--format", "json"])
          for f in ("linux-7.3-l5-leak", "linux-7.3-l5-migrate", "linux-5.10-l5-leak",
                    "linux-7.3-arm64-l5-leak", "linux-7.3-l5-device")]
CASES += [(f, f"addr-{k}.txt", ["addr", "-p", "{pid}", "{addr:%s}" % k])
          for f in _QUIESCENT for k in _kinds(f)]
CASES += [(f, f"decode-{k}.txt", ["decode", "{raw:%s}" % k])
          for f in _QUIESCENT for k in _kinds(f)]
CASES += [(f, "addr-migration_write.txt", ["addr", "-p", "{pid}", "{addr:migration_write}"])
          for f in ("linux-7.3-l5-migrate", "linux-6.1-l5-migrate", "linux-7.3-arm64-l5-migrate")]
CASES += [(f, "decode-migration_write.txt", ["decode", "{raw:migration_write}"])
          for f in ("linux-7.3-l5-migrate", "linux-6.1-l5-migrate", "linux-5.10-l5-migrate",
                    "linux-7.3-arm64-l5-migrate")]
CASES += [("linux-7.3-l5-quiescent", "decode-swap-hugetlb.txt",
           ["decode", "--hugetlb", "{raw:swap}"]),
          ("linux-7.3-l5-quiescent", "addr-kernel.txt",
           ["addr", "--kernel-tables", "0xffffffff82000000"])]
# A page of a PTE-mapped THP: a large folio's mapcount.
CASES += [(f, "addr-thp_pte_mapped.txt", ["addr", "-p", "{pid}", "{region:thp_pte_mapped}"])
          for f in ("linux-7.3-l5-quiescent", "linux-6.12-l5-quiescent", "linux-6.1-l5-quiescent",
                    "linux-7.3-arm64-l5-quiescent")]


def _first_raw(prog: Any, manifest: Dict[str, Any], kind: str) -> int:
    from drgn_softleaf import for_each_leaf_entry

    for entry in for_each_leaf_entry(prog, pid=manifest["pid"]):
        if entry.kind.value == kind:
            return entry.raw
    raise LookupError(f"no {kind} entry in PID {manifest['pid']}")


def _first_addr(manifest: Dict[str, Any], kind: str) -> int:
    return next(p["addr"] for p in manifest["pages"] if p["kind"] == kind)


def command_line(prog: Any, manifest: Dict[str, Any], argv: List[str]) -> List[str]:
    """*argv* with its placeholders filled in."""

    def one(arg: str) -> str:
        m = re.fullmatch(r"\{(addr|raw|region):(\w+)\}", arg)
        if m is None:
            return arg.format(pid=manifest["pid"])
        if m.group(1) == "addr":
            return f"{_first_addr(manifest, m.group(2)):#x}"
        if m.group(1) == "region":
            return f"{next(p['addr'] for p in manifest['pages'] if p['region'] == m.group(2) and p['kind'] == 'present'):#x}"
        return f"{_first_raw(prog, manifest, m.group(2)):#x}"

    return [one(a) for a in argv]


def render(prog: Any, manifest: Dict[str, Any], argv: List[str]) -> str:
    """The golden text of one command: its command line, output and exit
    status."""
    from drgn_softleaf.commands import parse, run

    argv = command_line(prog, manifest, argv)
    out = io.StringIO()
    ns = parse(argv)
    assert ns is not None
    status = run(prog, ns, out)
    return f"$ softleaf {' '.join(argv)}\n{out.getvalue()}[exit status {status}]\n"


def golden_path(fixture: str, name: str) -> Path:
    return GOLDEN / fixture / name


def main() -> None:
    sys.path.insert(0, str(HERE))
    from conftest import load

    for fixture, name, argv in CASES:
        prog, manifest = load(fixture)
        path = golden_path(fixture, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(prog, manifest, argv))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
