# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn_softleaf.jsonl: the bulk JSON Lines writer against entry_json() of
every entry, one at a time."""

import io
import json

import pytest

from conftest import load


@pytest.mark.parametrize("name", ["linux-7.3-l5-quiescent", "linux-6.12-l5-quiescent",
                                  "linux-6.1-l5-quiescent", "linux-5.10-l5-quiescent",
                                  "linux-7.3-l5-numa", "linux-7.3-arm64-l5-quiescent",
                                  "linux-7.3-arm64-64k-l3-quiescent",
                                  "linux-6.1-arm64-l4-quiescent"])
def test_jsonl_fast_path_equals_entry_json(name):
    """The vectorized JSON Lines writer gives exactly what entry_json() gives
    for every entry of the typed API."""
    from drgn_softleaf import Enricher, address_space, enrich_entry, for_each_leaf_entry
    from drgn_softleaf.commands import parse, run
    from drgn_softleaf.schema import entry_json

    prog, manifest = load(name)
    out = io.StringIO()
    run(prog, parse(["entries", "-p", str(manifest["pid"]), "--format", "jsonl"]), out)
    space = address_space(prog, pid=manifest["pid"])
    enricher = Enricher(prog)
    want = [json.dumps(entry_json(space, enrich_entry(enricher, e)), separators=(",", ":"))
            for e in for_each_leaf_entry(prog, pid=manifest["pid"])]
    got = out.getvalue().splitlines()
    assert got == want
    assert any('"protnone":true' in line for line in got)


@pytest.mark.parametrize("name,kinds", [
    ("linux-7.3-l5-quiescent", ["marker", "swap"]),
    ("linux-7.3-l5-quiescent", ["present"]),
    ("linux-7.3-l5-perf", ["marker"]),
    ("linux-7.3-l5-migrate", ["migration_write", "present"]),
    ("linux-7.3-arm64-l5-quiescent", ["device_private_write", "hwpoison"]),
])
def test_jsonl_of_some_kinds_equals_entry_json(name, kinds):
    """With --kind, the writer's templates (one per repeated value: the
    perf dump's thousands of markers) and runs still give entry_json()'s
    lines of exactly the entries of those kinds."""
    from drgn_softleaf import Enricher, address_space, enrich_entry, for_each_leaf_entry
    from drgn_softleaf.commands import parse, run
    from drgn_softleaf.schema import entry_json

    prog, manifest = load(name)
    argv = ["entries", "-p", str(manifest["pid"]), "--format", "jsonl"]
    for kind in kinds:
        argv += ["--kind", kind]
    out = io.StringIO()
    run(prog, parse(argv), out)
    space = address_space(prog, pid=manifest["pid"])
    enricher = Enricher(prog)
    want = [json.dumps(entry_json(space, enrich_entry(enricher, e)), separators=(",", ":"))
            for e in for_each_leaf_entry(prog, pid=manifest["pid"]) if e.kind.value in kinds]
    got = out.getvalue().splitlines()
    assert got == want and len(got) > 5
