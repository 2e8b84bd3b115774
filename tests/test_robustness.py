# SPDX-License-Identifier: LGPL-2.1-or-later
"""What users do to a tool: close the pipe it writes to, press Ctrl-C, give
hostile arguments, forget to say which kernel, and point it at a dump whose
page tables are corrupt. Each gets one clear line and a non-zero exit, or a
marked result; a drgn session always survives."""

import io
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import drgn
import pytest

from conftest import load
from drgn_softleaf.cli import main
from drgn_softleaf.demo import unpack
from drgn_softleaf.target import get_target

SCRIPT = str(Path(sys.executable).parent / "drgn-softleaf")
DEMO = "linux-7.3-l5-quiescent"


def core_args(name=DEMO):
    fx = unpack(name)
    return ["-c", str(fx.vmcore), "-s", str(fx.vmlinux)]


def run_cli(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


# -- a drgn session survives ---------------------------------------------------

SESSION = textwrap.dedent("""
    import sys
    import drgn
    from drgn.commands import run_command
    import drgn_softleaf.plugin  # what drgn's plugin loading does

    prog = drgn.Program()
    prog.set_core_dump(sys.argv[1])
    prog.load_debug_info([sys.argv[2]])
    errors = []
    for command in sys.argv[3:]:
        ret = run_command(prog, command, onerror=errors.append)
        sys.stdout.flush()
        print(f"RETURNED {ret!r}", flush=True)
    for e in errors:
        print(f"ERROR {type(e).__name__}: {e}", flush=True)
    print("SESSION ALIVE", flush=True)
""")


def drgn_session(fixture, *commands):
    fx = unpack(fixture)
    return subprocess.run([sys.executable, "-c", SESSION, str(fx.vmcore), str(fx.vmlinux),
                           *commands], capture_output=True, text=True, timeout=600)


def test_drgn_session_survives_closed_pipes():
    """`| head -2` on the 4.3-million-entry process of the perf fixture, a
    pipe closed before reading anything, a table and the JSON Lines: each
    ends its command quietly and the session goes on."""
    _, manifest = load("linux-7.3-l5-perf")
    pid = manifest["pid"]
    proc = drgn_session(
        "linux-7.3-l5-perf",
        f"softleaf entries -p {pid} | head -2",
        f"softleaf entries -p {pid} --format jsonl | head -1",
        f"softleaf vmas -p {pid} | true",
        "softleaf summary | head -1",
        "softleaf leaks | head -1",
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "SESSION ALIVE", proc.stdout + proc.stderr
    # What each command printed before its pipe closed; a closed pipe ends
    # the command without a return value. The summary (about 20 KB) and the
    # leaks report (a few lines) may also fit in the pipe before head exits:
    # then they end normally, with their status.
    assert lines[7] in ("RETURNED None", "RETURNED 0")
    assert lines[9] in ("RETURNED None", "RETURNED 0")
    assert lines == [
        f"Leaf entries of PID {pid} (scenario)",
        lines[1], "RETURNED None",
        lines[3], "RETURNED None",
        "RETURNED None",
        "Leaf entries per process", lines[7],
        "Migration-entry triage", lines[9],
        "SESSION ALIVE",
    ]
    assert lines[1].split() == ["ADDRESS", "LEVEL", "KIND", "RAW", "DETAILS"]
    assert json.loads(lines[3])["pid"] == pid


def test_drgn_session_survives_errors_and_returns_status():
    proc = drgn_session("linux-7.3-l5-leak", "softleaf entries -p 999999",
                        "softleaf decode -1", "softleaf leaks > /dev/null",
                        "softleaf summary > /dev/null")
    lines = proc.stdout.splitlines()
    assert lines[-1] == "SESSION ALIVE", proc.stdout + proc.stderr
    # The findings of leaks are the command's return value.
    assert "RETURNED 1" in lines and "RETURNED 0" in lines
    errors = [line for line in lines if line.startswith("ERROR")]
    assert len(errors) == 2
    assert "no process with PID 999999" in errors[0]
    assert "-1" in errors[1]


def test_console_script_closed_pipe_is_quiet():
    proc = subprocess.run(
        f"{SCRIPT} --demo entries -p 1 --kind present | head -1; "
        "echo status=${PIPESTATUS[0]}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines() == ["Leaf entries of PID 1 (init)", "status=0"]
    assert proc.stderr == ""


def test_a_bug_is_an_error_not_a_finding(monkeypatch, capsys):
    """Exit status 1 means findings: an unexpected exception is one line and
    status 2, never a traceback (and never 1)."""
    import drgn_softleaf.commands as commands

    def broken(*args, **kwargs):
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(commands, "run", broken)
    status, out, err = run_cli(["--demo", "summary"], capsys)
    assert status == 2
    assert err.startswith("drgn-softleaf: error: internal error: RuntimeError: something")
    assert len(err.splitlines()) == 1


def test_ctrl_c_is_one_line_and_130(monkeypatch, capsys):
    import drgn_softleaf.commands as commands

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "run", interrupted)
    status, out, err = run_cli(["--demo", "summary"], capsys)
    assert status == 130
    assert err == "drgn-softleaf: interrupted\n"


# -- choosing the kernel ---------------------------------------------------------


def test_no_program_chosen_is_an_error(capsys):
    status, out, err = run_cli(["leaks"], capsys)
    assert status == 2 and out == ""
    assert "-c VMCORE" in err and "-k" in err and "--demo" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["--demo", "summary"],
    ["summary", "--demo"],
    [f"--demo={DEMO}", "summary"],
    ["--demo", DEMO, "summary"],
    ["summary", "--format", "json", "--demo", DEMO],
])
def test_demo_and_global_options_anywhere(argv, capsys):
    status, out, err = run_cli(argv, capsys)
    assert status == 0, err
    assert "scenario" in out


def test_global_options_after_the_subcommand(capsys):
    status, out, err = run_cli(["summary", "--format", "json"] + core_args(), capsys)
    assert status == 0, err
    assert json.loads(out)["schema"] == 2


def test_demo_list_and_unknown_demo(capsys):
    status, out, err = run_cli(["--demo", "list"], capsys)
    assert status == 0 and DEMO in out.split()
    status, out, err = run_cli(["--demo", "linux-9.9-nothing", "summary"], capsys)
    assert status == 2 and "not found" in err and len(err.splitlines()) == 1


def test_two_programs_is_an_error(capsys):
    status, out, err = run_cli(["-k", "--demo", "summary"], capsys)
    assert status == 2 and "cannot be used together" in err


# -- strict arguments ------------------------------------------------------------


@pytest.mark.parametrize("argv,message", [
    (["entries", "-p", "-1"], "invalid PID"),
    (["entries", "-p", "2147483648"], "invalid PID"),
    (["entries", "-p", "1", "-p", "57"], "more than once"),
    (["entries", "-p", "0", "-p", "57"], "more than once"),
    (["vmas", "-p", "x"], "invalid PID"),
    (["decode", "-1"], "not a 64-bit value"),
    (["decode", "0x1ffffffffffffffff"], "not a 64-bit value"),
    (["addr", "-p", "1", "0x10000000000000000"], "not a 64-bit value"),
    (["addr", "-p", "1", "0xffffffff81000000"], "outside the user address space"),
    (["addr", "--kernel-tables", "0x1000"], "outside the kernel address space"),
    (["entries", "-p", "1", "--range", "0x0-0x1000000000000000000"], "not a 64-bit"),
    (["entries", "-p", "1", "--range", "0xff00000000000000-0xff00000000001000"],
     "outside the user address space"),
    (["entries", "-p", "1", "--range", "0x2000-0x1000"], "empty range"),
    (["entries", "-p", "1", "--vma", "-5"], "not a 64-bit value"),
    (["entries", "-p", "1", "--kind", "nonsense"], "invalid choice"),
    (["summary", "--format", "xml"], "invalid choice"),
])
def test_hostile_arguments(argv, message, capsys):
    status, out, err = run_cli(core_args() + argv, capsys)
    assert status == 2, (out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_kind_none_implies_all(capsys):
    _, manifest = load(DEMO)
    status, out, err = run_cli(core_args() + ["entries", "-p", str(manifest["pid"]),
                                              "--kind", "none", "--format", "jsonl"], capsys)
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and {r["kind"] for r in rows} == {"none"}
    nones = {p["addr"] for p in manifest["pages"] if p["kind"] == "none"}
    covered = {a for a in nones for r in rows if r["addr"] <= a < r["addr"] + r["size"]}
    assert covered == nones


def test_help_documents_exit_status_and_examples(capsys):
    from drgn_softleaf.commands import subcommands

    for name in subcommands():
        status, out, err = run_cli([name, "--help"], capsys)
        assert status == 0
        assert "exit status:" in out and "examples:" in out, name
        assert "--drgn" in out


# -- corrupted page tables ---------------------------------------------------------


@pytest.fixture(scope="module", params=[DEMO, "linux-7.3-arm64-l5-quiescent",
                                              "linux-6.12-l5-quiescent"])
def corrupted(request):
    """A quiescent dump (7.3 x86-64 and arm64, 6.12) with three of the scenario's PTE
    tables overwritten with random bytes (an overlay segment: the dump file
    is untouched)."""
    from drgn_softleaf import address_space
    from drgn_softleaf.scan import walk_address_space
    from drgn_softleaf.walk import PteSlots

    fx = unpack(request.param)
    manifest = json.loads(fx.manifest.read_text())
    prog = drgn.Program()
    prog.set_core_dump(str(fx.vmcore))
    prog.load_debug_info([str(fx.vmlinux)])
    _, walk = walk_address_space(address_space(prog, pid=manifest["pid"]))
    tables = sorted({(item.table, item.base) for item in walk if isinstance(item, PteSlots)})
    rng = random.Random(8)
    size = get_target(prog).table_entries[-1] * 8
    for table, _ in tables[-3:]:
        data = bytes(rng.getrandbits(8) for _ in range(size))
        prog.add_memory_segment(table, size,
                                lambda address, count, offset, physical, data=data:
                                data[offset:offset + count], True)
    # Physical address of each corrupted table -> the address it maps.
    return prog, manifest, dict(tables[-3:])


def _run(prog, argv):
    from drgn_softleaf.commands import parse, run

    out = io.StringIO()
    status = run(prog, parse(argv), out)
    return status, out.getvalue()


def test_corrupted_tables_make_summary_fail(corrupted):
    prog, manifest, _ = corrupted
    status, out = _run(prog, ["summary", "--format", "json"])
    assert status == 1
    doc = json.loads(out)
    by_pid = {p["pid"]: p for p in doc["processes"]}
    assert sum(by_pid[manifest["pid"]]["impossible"].values()) > 100
    assert all(not p["impossible"] for pid, p in by_pid.items() if pid != manifest["pid"])
    status, out = _run(prog, ["summary"])
    assert status == 1 and "IMPOSSIBLE" in out
    status, out = _run(prog, ["vmas", "-p", str(manifest["pid"])])
    assert status == 1 and "IMPOSSIBLE" in out


def test_corrupted_tables_flag_every_impossible_row(corrupted):
    prog, manifest, garbage = corrupted
    status, out = _run(prog, ["entries", "-p", str(manifest["pid"]), "--format", "jsonl"])
    assert status == 1
    rows = [json.loads(line) for line in out.splitlines()]
    flagged = [r for r in rows if r["anomalies"]]
    assert len(flagged) > 100
    highest = prog["highest_memmap_pfn"].value_()
    target = get_target(prog)
    special = target.layout.special_mask
    pte_special = {"x86_64": 1 << 9, "aarch64": 1 << 56}[manifest["arch"]]
    # The zero page: zero_page_pfn since 7.x, zero_pfn before.
    zero_pfn = prog["zero_pfn" if manifest["kernel"] == "6.12" else "zero_page_pfn"].value_()
    # 6.12 still has pte_devmap(): _PAGE_BIT_DEVMAP is bit 57 on x86-64.
    devmap = 1 << 57 if manifest["kernel"] == "6.12" else 0
    assert sum(1 for r in rows if r["kind"] == "present" and r["raw"] & pte_special
               and r["pfn"] != zero_pfn and not r["raw"] & devmap) > 20
    for r in rows:
        # Every present pfn past the memory map in a normal mapping is
        # flagged, and nothing else is flagged as such.
        beyond = (r["kind"] == "present" and r["pfn"] > highest and not r["raw"] & special)
        assert beyond == any(a["what"] == "pfn-beyond-memmap" for a in r["anomalies"]), r
        # Every special present PTE that is not the zero page, in these
        # ordinary VMAs, is a bad page map to __vm_normal_page(); pte_special()
        # is bit 9 on x86-64 (_PAGE_BIT_SOFTW1), 56 on arm64 (PTE_SPECIAL).
        bad = (r["kind"] == "present" and r["level"] == "pte" and r["raw"] & pte_special
               and r["pfn"] != zero_pfn and not r["raw"] & devmap)
        assert bool(bad) == any(a["what"] == "bad-special" for a in r["anomalies"]), r
        if r["kind"] == "swap" and r["swap_file"] is None:
            assert [a["what"] for a in r["anomalies"]] == ["swap-no-device"]
        if r["kind"] == "invalid":
            assert [a["what"] for a in r["anomalies"]] == ["invalid"]
    # Rows outside the corrupted tables are unflagged.
    span = 1 << target.level_shift("pmd")

    def corrupted_row(r):
        return any(base <= r["addr"] < base + span for base in garbage.values())

    assert all(not r["anomalies"] for r in rows if not corrupted_row(r))
    assert sum(1 for r in rows if not corrupted_row(r)) > 500
    status, table = _run(prog, ["entries", "-p", str(manifest["pid"])])
    assert status == 1
    marked = [line for line in table.splitlines() if line.startswith("!")]
    assert len(marked) == len(flagged)
    assert all("IMPOSSIBLE (" in line for line in marked)


def test_intact_fixtures_have_no_impossible_entries():
    from drgn_softleaf.commands import parse, run

    for name in ("linux-7.3-l5-quiescent", "linux-7.3-l4-quiescent", "linux-6.12-l5-quiescent",
                 "linux-7.3-l5-migrate", "linux-7.3-l5-leak", "linux-7.3-l5-numa",
                 "linux-7.3-arm64-l5-quiescent", "linux-7.3-arm64-l4-quiescent",
                 "linux-7.3-arm64-l5-migrate", "linux-7.3-arm64-l5-leak",
                 "linux-7.3-arm64-64k-l3-quiescent", "linux-6.1-arm64-l4-quiescent"):
        prog, manifest = load(name)
        out = io.StringIO()
        assert run(prog, parse(["summary", "--format", "json"]), out) == 0, name
        assert json.loads(out.getvalue())["impossible"] == 0
        out = io.StringIO()
        assert run(prog, parse(["entries", "-p", str(manifest["pid"]), "--format", "jsonl"]),
                   out) == 0, name
        assert all(json.loads(line)["anomalies"] == [] for line in out.getvalue().splitlines())


# -- output ------------------------------------------------------------------------


def test_vmas_name_special_mappings():
    prog, manifest = load(DEMO)
    _, out = _run(prog, ["vmas", "-p", str(manifest["pid"]), "--format", "json"])
    names = {v["name"] for v in json.loads(out)["vmas"]}
    assert {"[heap]", "[stack]", "[vdso]"} <= names


def test_addr_gives_physical_address_bits_and_folio():
    prog, manifest = load(DEMO)
    page = next(p for p in manifest["pages"] if p["kind"] == "present" and p.get("pagemap"))
    _, out = _run(prog, ["addr", "-p", str(manifest["pid"]), hex(page["addr"] + 0x123)])
    # pagemap: bits 0-54 are the pfn.
    phys = ((page["pagemap"] & ((1 << 55) - 1)) << 12) + 0x123
    assert f"physical address: {phys:#x}" in out
    assert "present" in out.split() and "user" in out.split()
    assert "refcount" in out and "mapcount" in out and "flags" in out


def test_decode_is_no_finding():
    """A value that is no leaf at some level is shown as invalid there, not
    marked IMPOSSIBLE: decoding is not a scan."""
    prog, _ = load(DEMO)
    for value in ("0x07ffffffffffec0a", "0x8000000001e00067"):
        status, out = _run(prog, ["decode", value])
        assert status == 0 and "IMPOSSIBLE" not in out, out


def test_kernel_tables_have_no_present_flags():
    prog, _ = load(DEMO)
    _, out = _run(prog, ["entries", "--kernel-tables", "--format", "jsonl",
                         "--kind", "present"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) > 10000 and all(r["flags"] == [] for r in rows)


def test_decode_table_pud_and_no_vma():
    prog, _ = load(DEMO)
    _, out = _run(prog, ["decode", "0x0000000020268067"])
    assert "present PUD entry that is not a leaf" in out
    assert "protnone (None)" not in out
    _, out = _run(prog, ["decode", "--level", "pte", "0x8000000020268066"])
    assert "protnone (None)" not in out


def test_drgn_code_reproduces_filters_and_levels(capsys):
    prog, manifest = load(DEMO)
    pid = manifest["pid"]
    _, code = _run(prog, ["entries", "-p", str(pid), "--kind", "swap", "--range",
                          "0x0-0x7fffffffffff", "--drgn"])
    assert "'swap'" in code and "0x7fffffffffff" in code
    exec(compile(code, "<--drgn>", "exec"), {"prog": prog})
    printed = capsys.readouterr().out.splitlines()
    _, out = _run(prog, ["entries", "-p", str(pid), "--kind", "swap", "--format", "jsonl",
                         "--range", "0x0-0x7fffffffffff"])
    assert [line.split()[0] for line in printed] == [
        hex(json.loads(line)["addr"]) for line in out.splitlines()]
    _, code = _run(prog, ["decode", "0x07ffffffffffec0a", "--drgn"])
    exec(compile(code, "<--drgn>", "exec"), {"prog": prog})
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "pte", "pmd", "pud"]


# -- the demo cache ------------------------------------------------------------------


def _tar(path, members):
    import tarfile

    with tarfile.open(path, "w:xz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("filters", [True, False], ids=["tarfile-filters", "no-filters"])
def test_unpack_without_tarfile_filters(filters, tmp_path, monkeypatch):
    """Pythons without tarfile filters (Debian 12's 3.11.2, 3.9) unpack the
    fixtures too, refusing what filter="data" refuses; the cache key is the
    content, not the mtime, and older copies are removed."""
    import tarfile

    import drgn_softleaf.demo as demo

    if not filters:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fixtures = tmp_path / "fixtures"
    (fixtures / "linux-1.0-l4-test").mkdir(parents=True)
    (fixtures / "linux-1.0-l4-test" / "manifest.json").write_text("{}")
    archive = fixtures / "kernel-1.0.tar.xz"
    _tar(archive, [("kernel-1.0/vmlinux", b"elf", "file"),
                   ("linux-1.0-l4-test/vmcore", b"core", "file")])
    fx = demo.unpack("linux-1.0-l4-test", fixtures)
    assert fx.vmcore.read_bytes() == b"core"
    first = fx.vmcore.parent.parent
    os.utime(archive, (0, 0))  # a fresh clone: new mtimes, same content
    assert demo.unpack("linux-1.0-l4-test", fixtures).vmcore.parent.parent == first
    _tar(archive, [("kernel-1.0/vmlinux", b"elf2", "file"),
                   ("linux-1.0-l4-test/vmcore", b"core2", "file")])
    second = demo.unpack("linux-1.0-l4-test", fixtures).vmcore.parent.parent
    assert second != first and not first.exists()
    _tar(archive, [("../escape", b"x", "file")])
    with pytest.raises(demo.FixtureError):
        demo.unpack("linux-1.0-l4-test", fixtures)
    assert not (tmp_path / "cache" / "escape").exists()
    _tar(archive, [("kernel-1.0/vmlinux", "/etc/passwd", "symlink")])
    with pytest.raises(demo.FixtureError):
        demo.unpack("linux-1.0-l4-test", fixtures)


def test_prot_none_and_invalidated_pud_leaves_are_present():
    """A huge PUD leaf with its present bit clear (PROT_NONE after
    change_huge_pud(), or pudp_invalidate() in progress) keeps _PAGE_PSE
    and an inverted pfn: a present leaf, never an invalid entry."""
    from drgn_softleaf import Kind, classify_raw

    prog, _ = load(DEMO)
    pfn = 0x40000
    inverted = ~(pfn << 12) & ((1 << 52) - 1) & ~((1 << 30) - 1)
    pse, protnone, accessed_dirty = 0x80, 0x100, 0x60
    entry = classify_raw(prog, inverted | pse | protnone | accessed_dirty | 0x4, "pud")
    assert (entry.kind, entry.protnone, entry.pfn) == (Kind.PRESENT, True, pfn)
    entry = classify_raw(prog, inverted | pse | accessed_dirty | 0x4, "pud")
    assert (entry.kind, entry.protnone, entry.pfn) == (Kind.PRESENT, False, pfn)
    assert "pudp_invalidate" in entry.note
    # Without the leaf bit, a non-present PUD outside hugetlb is invalid.
    assert classify_raw(prog, inverted | accessed_dirty | 0x4, "pud").kind == Kind.INVALID


def test_missing_debug_info_says_how(capsys):
    fx = unpack(DEMO)
    status, out, err = run_cli(["-c", str(fx.vmcore), "summary"], capsys)
    assert status == 2 and "-s VMLINUX" in err and len(err.splitlines()) == 1
