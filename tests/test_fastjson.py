# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bulk formatter writes exactly what Python's % formatting writes, for
every width of every field, in runs of mixed shapes."""

import random

import numpy as np
import pytest

from drgn_softleaf.fastjson import format_lines

EDGES = [0, 1, 9, 10, 15, 16, 99, 100, 255, 256, 9999, 10000, 65535, 65536,
         (1 << 32) - 1, 1 << 32, 10 ** 15 - 1, 10 ** 15, (1 << 63) - 1, 1 << 63,
         10 ** 19 - 1, 10 ** 19, (1 << 64) - 1]


@pytest.mark.parametrize("seed", range(4))
def test_format_lines_equals_percent_formatting(seed):
    rng = random.Random(seed)
    n = 9000  # more than one chunk
    values = [EDGES[i] if i < len(EDGES) else rng.getrandbits(rng.choice((8, 20, 40, 52, 64)))
              for i in range(n)]
    rng.shuffle(values)
    a = np.array(values, dtype=np.uint64)
    b = np.array(values[::-1], dtype=np.uint64)
    template = '{"a":%d,"b":"%#x","c":"%#018x","d":%d}\n'
    want = "".join(template % (x, x, y, y) for x, y in zip(values, values[::-1])).encode()
    got = format_lines([b'{"a":', b',"b":"0x', b'","c":"0x', b'","d":', b'}\n'],
                       [(a, "d"), (a, "x"), (b, "x16"), (b, "d")])
    assert got == want


def test_format_lines_one_shape_and_empty():
    a = np.arange(1000, 2000, dtype=np.uint64)
    assert format_lines([b'{"n":', b"}\n"], [(a, "d")]) == "".join(
        '{"n":%d}\n' % x for x in range(1000, 2000)).encode()
    assert format_lines([b'{"n":', b"}\n"], [(a[:0], "d")]) == b""


def test_console_script_writes_the_same_jsonl_as_the_api(tmp_path):
    """The console script writes the bulk lines to stdout's binary stream
    and the others through the text stream: the result is in order and
    equal to what a text-only stream receives."""
    import io
    import subprocess
    import sys
    from pathlib import Path

    from conftest import load
    from drgn_softleaf.commands import parse, run

    name = "linux-7.3-l5-numa"  # present, PROT_NONE and special entries
    prog, manifest = load(name)
    argv = ["entries", "-p", str(manifest["pid"]), "--format", "jsonl"]
    want = io.StringIO()
    assert run(prog, parse(argv), want) == 0
    script = str(Path(sys.executable).parent / "drgn-softleaf")
    out = tmp_path / "out.jsonl"
    with open(out, "w") as f:
        proc = subprocess.run([script, "--demo", name, *argv], stdout=f, timeout=300)
    assert proc.returncode == 0
    assert out.read_text() == want.getvalue()
    assert want.getvalue().count("\n") > 200
