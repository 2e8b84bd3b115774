# SPDX-License-Identifier: LGPL-2.1-or-later
"""The console script and the shared sub-commands: golden tables, the JSON
Lines contract, --drgn code that runs, and one clear message (never a
traceback) for bad input."""

import difflib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import load
from drgn_softleaf.cli import main
from drgn_softleaf.demo import unpack
from golden import CASES, golden_path, render

SCRIPT = str(Path(sys.executable).parent / "drgn-softleaf")


@pytest.mark.parametrize("fixture,name,argv", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_golden(fixture, name, argv):
    prog, manifest = load(fixture)
    path = golden_path(fixture, name)
    assert path.exists(), f"{path} missing: run python tests/golden.py"
    want = path.read_text()
    got = render(prog, manifest, argv)
    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                        "expected", "actual"))
    assert not diff, diff


def run_cli(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def core_args(name):
    fx = unpack(name)
    return ["-c", str(fx.vmcore), "-s", str(fx.vmlinux)]


def test_drgn_option_prints_code_that_runs(capsys):
    prog, manifest = load("linux-7.3-l5-quiescent")
    for argv in (["vmas", "-p", str(manifest["pid"])], ["decode", "0x7ffffffffffffe00"],
                 ["addr", "-p", str(manifest["pid"]), hex(manifest["pages"][0]["addr"])]):
        out = io.StringIO()
        from drgn_softleaf.commands import parse, run

        run(prog, parse(argv + ["--drgn"]), out)
        code = out.getvalue()
        assert "drgn_softleaf" in code
        exec(compile(code, "<--drgn>", "exec"), {"prog": prog})
    capsys.readouterr()


def test_addr_walks_every_level(capsys):
    _, manifest = load("linux-7.3-l5-quiescent")
    page = next(p for p in manifest["pages"] if p["region"] == "swap_sd")
    status, out, err = run_cli(core_args("linux-7.3-l5-quiescent")
                               + ["addr", "-p", str(manifest["pid"]), hex(page["addr"])], capsys)
    assert status == 0, err
    for level in ("pgd", "p4d", "pud", "pmd", "pte"):
        assert f"\n {level} " in out or out.splitlines()[0].startswith(level) or f" {level} " in out
    assert "leaf: pte swap" in out
    assert "/dev/zram0" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["-c", "/nonexistent/vmcore", "summary"], "no such file"),
        (["entries", "-p", "999999"], "no process with PID 999999"),
        (["entries", "-p", "2"], "kernel thread"),
        (["entries", "-p", "1", "--range", "0x2000-0x1000"], "empty range"),
        (["entries", "-p", "1", "--vma", "0x10"], "no VMA"),
        (["decode", "zzz"], "invalid number"),
    ],
)
def test_bad_input_gives_one_message(argv, message, capsys):
    if argv[0] != "-c":
        argv = core_args("linux-7.3-l5-quiescent") + argv
    status, out, err = run_cli(argv, capsys)
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_wrong_debug_info(capsys):
    # A 7.3 dump with the 6.12 vmlinux.
    dump = unpack("linux-7.3-l5-quiescent").vmcore
    other = unpack("linux-6.12-l5-quiescent").vmlinux
    status, out, err = run_cli(["-c", str(dump), "-s", str(other), "summary"], capsys)
    assert status == 2
    assert "Traceback" not in err
    assert "debug info" in err


def test_console_script_no_traceback():
    proc = subprocess.run([SCRIPT, "-c", "/nonexistent", "summary"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("drgn-softleaf: error:")


def test_kernel_tables(capsys):
    status, out, err = run_cli(core_args("linux-7.3-l5-quiescent")
                               + ["entries", "--kernel-tables", "--format", "jsonl"], capsys)
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) > 10000
    # Kernel page tables hold present entries and, at most, raw non-present
    # ones: never swap, migration or any other softleaf kind.
    assert {r["kind"] for r in rows} <= {"present", "kernel_not_present"}
    assert all(r["addr"] >= 0xFF00000000000000 for r in rows)


def test_piped_tables_are_plain_and_uncut(capsys):
    _, manifest = load("linux-7.3-l5-quiescent")
    status, out, err = run_cli(core_args("linux-7.3-l5-quiescent")
                               + ["entries", "-p", str(manifest["pid"]), "--kind", "swap"], capsys)
    assert status == 0, err
    assert "\x1b[" not in out  # no colour or styles when not a terminal
    assert "…" not in out  # nothing cut with an ellipsis
    first = next(p for p in manifest["pages"] if p["kind"] == "swap")
    assert f"{first['addr']:#x}" in out and "/dev/zram0" in out


def test_drgn_option_for_whole_system_commands(capsys):
    prog, _ = load("linux-7.3-l5-leak")
    from drgn_softleaf.commands import parse, run

    for argv in (["summary", "--drgn"], ["leaks", "--drgn"]):
        out = io.StringIO()
        run(prog, parse(argv), out)
        exec(compile(out.getvalue(), "<--drgn>", "exec"), {"prog": prog})
    assert "leaked" in capsys.readouterr().out


@pytest.mark.parametrize("name,status", [("linux-7.3-l5-leak", 1),
                                         ("linux-7.3-l5-quiescent", 0)])
def test_drgn_e_sees_the_exit_status(name, status):
    """The README's `drgn -e` example: %softleaf's return value is the exit
    status, so a script exits with it (the plugin comes from the drgn.plugins
    entry point, as in any drgn session)."""
    drgn = str(Path(sys.executable).parent / "drgn")
    code = ('import sys; from drgn.commands import run_command\n'
            'sys.exit(run_command(prog, "softleaf leaks --format json"))')
    proc = subprocess.run([drgn, "-q", *core_args(name), "-e", code], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == status, proc.stderr
    assert json.loads(proc.stdout)["exit_status"] == status
