# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Golden outputs of a few table commands on the fixtures.

    python tests/golden.py        # regenerate tests/golden/*.txt

The test (test_cli.py) runs the same commands and diffs against these files.
"""

import io
import sys
from pathlib import Path
from typing import List, Tuple

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"

# (fixture, file name, sub-command argv; {pid} is the scenario PID)
CASES: List[Tuple[str, str, List[str]]] = [
    ("linux-7.3-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-7.3-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-7.3-l5-quiescent", "entries-nonpresent.txt",
     ["entries", "-p", "{pid}", "--kind", "swap", "--kind", "marker", "--kind", "hwpoison",
      "--kind", "device_private_read", "--kind", "device_private_write",
      "--kind", "device_exclusive"]),
    ("linux-7.3-l5-migrate", "entries-migration.txt",
     ["entries", "-p", "{pid}", "--kind", "migration_read", "--kind",
      "migration_read_exclusive", "--kind", "migration_write"]),
    ("linux-6.12-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-6.1-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-6.1-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-5.10-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-5.10-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-7.3-arm64-l5-quiescent", "summary.txt", ["summary"]),
    ("linux-7.3-arm64-l5-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-7.3-arm64-l5-quiescent", "entries-nonpresent.txt",
     ["entries", "-p", "{pid}", "--kind", "swap", "--kind", "marker", "--kind", "hwpoison",
      "--kind", "device_private_read", "--kind", "device_private_write",
      "--kind", "device_exclusive"]),
    ("linux-7.3-arm64-l5-migrate", "entries-migration.txt",
     ["entries", "-p", "{pid}", "--kind", "migration_read", "--kind",
      "migration_read_exclusive", "--kind", "migration_write"]),
    ("linux-7.3-arm64-64k-l3-quiescent", "summary.txt", ["summary"]),
    ("linux-7.3-arm64-64k-l3-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
    ("linux-6.1-arm64-l4-quiescent", "summary.txt", ["summary"]),
    ("linux-6.1-arm64-l4-quiescent", "vmas.txt", ["vmas", "-p", "{pid}"]),
]


def render(prog, manifest, argv: List[str]) -> str:
    from drgn_softleaf.commands import parse, run

    argv = [a.format(pid=manifest["pid"]) for a in argv]
    out = io.StringIO()
    ns = parse(argv)
    assert ns is not None
    run(prog, ns, out)
    return out.getvalue()


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
