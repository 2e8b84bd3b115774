# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Test corpus: the real vmcores in fixtures/vmcores, unpacked once into a
cache outside the repository (drgn_softleaf.demo.unpack). A missing or
broken fixture fails the tests that need it; nothing is skipped.
"""

import json
from pathlib import Path
from typing import Any, Dict, Tuple

import drgn
import pytest

from drgn_softleaf.demo import fixtures_dir, list_fixtures, unpack

REPO = Path(__file__).resolve().parent.parent

# Every fixture contrib/fixtures/build.py makes (ALL_FIXTURES there).
EXPECTED_FIXTURES = (
    "linux-7.3-l5-quiescent",
    "linux-7.3-l4-quiescent",
    "linux-7.3-l5-migrate",
    "linux-7.3-l5-leak",
    "linux-7.3-l5-numa",
    "linux-7.3-l5-perf",
    "linux-6.12-l5-quiescent",
    "linux-6.1-l5-quiescent",
    "linux-6.1-l5-migrate",
    "linux-6.1-l5-leak",
    "linux-6.1-l5-swapcount",
    "linux-5.10-l5-quiescent",
    "linux-5.10-l5-migrate",
    "linux-5.10-l5-leak",
    "linux-5.10-l5-swapcount",
    "linux-7.3-l5-paths",
    "linux-7.3-l5-device",
    "linux-7.3-l5-split",
    "linux-7.3-l5-rwp",
    "linux-7.3-l5-swapcount",
    "linux-7.3ksm-l5-ksm",
    "linux-7.3-arm64-l5-quiescent",
    "linux-7.3-arm64-l4-quiescent",
    "linux-7.3-arm64-l5-migrate",
    "linux-7.3-arm64-l5-leak",
    "linux-7.3-arm64-64k-l3-quiescent",
    "linux-6.1-arm64-l4-quiescent",
)


def manifests() -> Dict[str, Dict[str, Any]]:
    out = {}
    for name in list_fixtures():
        out[name] = json.loads((fixtures_dir() / name / "manifest.json").read_text())
    return out


def fixtures_of_mode(*modes: str):
    found = [n for n, m in manifests().items() if m["mode"] in modes]
    # A parametrized test over nothing would pass silently: fail instead.
    return found or ["<no fixture of mode " + "/".join(modes) + ">"]


_programs: Dict[str, Tuple[drgn.Program, Dict[str, Any]]] = {}


def load(name: str) -> Tuple[drgn.Program, Dict[str, Any]]:
    """The drgn program and manifest of fixture *name* (cached)."""
    if name.startswith("<"):
        pytest.fail(f"missing fixture: {name}")
    try:
        return _programs[name]
    except KeyError:
        pass
    fx = unpack(name)
    prog = drgn.Program()
    prog.set_core_dump(str(fx.vmcore))
    prog.load_debug_info([str(fx.vmlinux)])
    manifest = json.loads(fx.manifest.read_text())
    _programs[name] = (prog, manifest)
    return prog, manifest
