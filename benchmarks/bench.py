#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Whole-system scan benchmark: drgn-softleaf against the floor (reading every
page-table page once) and against what a drgn user does today.

    python benchmarks/bench.py                      # the perf fixture
    python benchmarks/bench.py --fixture linux-7.3-l5-quiescent
    python benchmarks/bench.py -c VMCORE -s VMLINUX --crash /path/to/crash
    python benchmarks/bench.py --layouts            # the vector path per architecture

Each measurement runs in a fresh process, so its peak RSS is its own. Times
exclude loading the program (vmcore and debug info). Printed: time, leaf
slots per second, ratio to the floor, peak RSS.

- pure_floor: every page-table page of every mm read once (one read per
  table), found from the top-level table alone: no VMAs, no decoding;
- floor: the same pages, found VMA by VMA through drgn's VMA iteration;
- vmas: reading the VMAs of every mm alone (drgn-softleaf's mm_vmas());
- summary: what ``drgn-softleaf summary`` does (walk, classify, count per
  kind, check for impossible entries, render);
- leaks: what ``drgn-softleaf leaks`` does (scan_leaks() and its report);
- jsonl: drgn-softleaf's full JSON Lines listing of every non-none entry of
  every process, to /dev/null; jsonl_big: the same for the process with
  the most entries alone (what crash's ``vm -p`` of it is compared with);
- follow_phys: drgn's follow_phys() for every page of every VMA, FaultError
  caught (a random sample, extrapolated);
- crash: ``foreach vm -p`` to /dev/null (with --crash).
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load(core: str, symbols: str) -> Any:
    import drgn

    prog = drgn.Program()
    prog.set_core_dump(core)
    prog.load_debug_info([symbols])
    return prog


def _spaces(prog: Any) -> List[Any]:
    from drgn_softleaf.scan import for_each_address_space

    return list(for_each_address_space(prog))


def run_floor(prog: Any) -> Dict[str, Any]:
    """Read every page-table page under every VMA of every mm once."""
    from drgn.helpers.linux.mm import for_each_vma, virt_to_phys

    info = dict(line.split("=", 1) for line in prog["VMCOREINFO"].string_().decode().splitlines()
                if "=" in line)
    levels = 5 if int(info.get("NUMBER(pgtable_l5_enabled)", "0")) else 4
    shifts = [48, 39, 30, 21, 12][5 - levels:]
    read = prog.read
    mask = 0x000FFFFFFFFFF000
    tables = slots = 0
    start = time.perf_counter()
    for space in _spaces(prog):
        pgd = virt_to_phys(prog, space.mm.pgd.value_()).value_()
        cache: Dict[int, Any] = {}
        for vma in for_each_vma(space.mm):
            lo, hi = vma.vm_start.value_(), vma.vm_end.value_()
            stack = [(pgd, 0, lo, hi)]
            while stack:
                phys, depth, s, e = stack.pop()
                shift = shifts[depth]
                key = (depth, phys)
                t = cache.get(key)
                if t is None:
                    t = memoryview(read(phys, 4096, True)).cast("Q")
                    cache = {k: v for k, v in cache.items() if k[0] != depth}
                    cache[key] = t
                    tables += 1
                base = s & ~((1 << (shift + 9)) - 1)
                first = (s - base) >> shift
                stop = ((e - 1 - base) >> shift) + 1
                if shift == 12:
                    slots += stop - first
                    continue
                for i in range(stop - 1, first - 1, -1):
                    v = t[i]
                    if v & 1 and not v & 0x80:
                        a = base + (i << shift)
                        stack.append((v & mask, depth + 1, max(s, a), min(e, a + (1 << shift))))
    return {"seconds": time.perf_counter() - start, "tables": tables, "slots": slots}


def run_pure_floor(prog: Any) -> Dict[str, Any]:
    """Read every page-table page of every mm once, found from its top-level
    table alone (the architecture layout says which entries point to
    tables), without VMAs."""
    import numpy as np

    from drgn_softleaf.target import get_target
    from drgn_softleaf.walk import mm_pgd_phys

    target = get_target(prog)
    layout = target.layout
    size = layout.entries_per_table * 8
    table_mask = np.uint64(layout.table_mask)
    table_value = np.uint64(layout.table_value)
    addr_mask = np.uint64(target.physical_mask & ~(size - 1))
    user_end = layout.user_range(target.levels)[1]
    top_shift = target.level_shifts[0][1]
    read = prog.read
    tables = 0
    start = time.perf_counter()
    for space in _spaces(prog):
        frontier = [mm_pgd_phys(space.mm)]
        for depth in range(len(target.level_shifts) - 1):
            found = []
            for phys in frontier:
                arr = np.frombuffer(read(phys, size, True), dtype=np.uint64)
                tables += 1
                if depth == 0:
                    arr = arr[:(user_end - 1 >> top_shift) + 1]
                sel = arr[(arr & table_mask) == table_value]
                found.extend((sel & addr_mask).tolist())
            frontier = found
        for phys in frontier:
            read(phys, size, True)
        tables += len(frontier)
    return {"seconds": time.perf_counter() - start, "tables": tables,
            "slots": tables * layout.entries_per_table}


def run_vmas(prog: Any) -> Dict[str, Any]:
    from drgn_softleaf.vma import mm_vmas

    spaces = _spaces(prog)
    start = time.perf_counter()
    n = sum(len(mm_vmas(space.mm)) for space in spaces)
    return {"seconds": time.perf_counter() - start, "vmas": n}


class _Counting:
    """A text sink: /dev/null, counting the characters written."""

    def __init__(self) -> None:
        import os

        self.file = open(os.devnull, "w")
        self.chars = 0

    def write(self, s: str) -> int:
        self.chars += len(s)
        return self.file.write(s)

    @property
    def buffer(self) -> "_Counting":
        # The binary stream under the text one, as sys.stdout has.
        return _CountingBytes(self)  # type: ignore[return-value]

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _CountingBytes:
    def __init__(self, text: _Counting) -> None:
        self.text = text

    def write(self, b: Any) -> int:
        self.text.chars += len(b)
        return self.text.file.buffer.write(b)


def _command(prog: Any, argv: List[str]) -> Dict[str, Any]:
    from drgn_softleaf.commands import parse, run

    out = _Counting()
    start = time.perf_counter()
    status = run(prog, parse(argv), out)  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - start, "bytes": out.chars, "status": status}


def run_summary(prog: Any) -> Dict[str, Any]:
    from drgn_softleaf.scan import space_counts
    from drgn_softleaf.vma import mm_vmas

    result = _command(prog, ["summary"])
    kinds: Dict[str, int] = {}
    for space in _spaces(prog):
        for kind, n in space_counts(space, mm_vmas(space.mm)).items():
            kinds[kind.value] = kinds.get(kind.value, 0) + n
    result["kinds"] = kinds
    return result


def run_leaks(prog: Any) -> Dict[str, Any]:
    return _command(prog, ["leaks"])


def run_jsonl_big(prog: Any) -> Dict[str, Any]:
    from drgn_softleaf.vma import mm_vmas

    big = max(_spaces(prog), key=lambda s: sum(v.end - v.start for v in mm_vmas(s.mm)))
    result = _command(prog, ["entries", "-p", str(big.pid), "--format", "jsonl"])
    result["pid"] = big.pid
    return result


def run_jsonl(prog: Any) -> Dict[str, Any]:
    """What `drgn-softleaf entries -p PID --format jsonl` does, for every
    process, to /dev/null."""
    from drgn_softleaf.commands import parse, run

    start = time.perf_counter()
    out = _Counting()
    for space in _spaces(prog):
        run(prog, parse(["entries", "-p", str(space.pid), "--format", "jsonl"]),
            out)  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - start, "bytes": out.chars}


def run_follow_phys(prog: Any, sample: int) -> Dict[str, Any]:
    from drgn import FaultError
    from drgn.helpers.linux.mm import follow_phys, for_each_vma

    pages = []
    for space in _spaces(prog):
        for vma in for_each_vma(space.mm):
            lo, hi = vma.vm_start.value_(), vma.vm_end.value_()
            pages.append((space.mm, lo, (hi - lo) >> 12))
    total = sum(n for _, _, n in pages)
    rng = random.Random(0)
    picks = []
    for _ in range(min(sample, total)):
        k = rng.randrange(total)
        for mm, lo, n in pages:
            if k < n:
                picks.append((mm, lo + (k << 12)))
                break
            k -= n
    start = time.perf_counter()
    for mm, addr in picks:
        try:
            follow_phys(mm, addr)
        except FaultError:
            pass
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed * total / max(len(picks), 1), "sampled": len(picks),
            "sample_seconds": elapsed, "slots": total}


_RUNS = {
    "pure_floor": run_pure_floor,
    "floor": run_floor,
    "vmas": run_vmas,
    "summary": run_summary,
    "leaks": run_leaks,
    "jsonl_big": run_jsonl_big,
    "jsonl": run_jsonl,
}


def child(args: argparse.Namespace) -> None:
    prog = load(args.core, args.symbols)
    from drgn_softleaf.target import get_target

    get_target(prog)  # probing is part of loading, as in the commands
    if args.child == "follow_phys":
        result = run_follow_phys(prog, args.sample)
    else:
        result = _RUNS[args.child](prog)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    """The fastest of --repeat runs, each in a fresh process."""
    best: Optional[Dict[str, Any]] = None
    for _ in range(args.repeat):
        cmd = [sys.executable, __file__, "--child", name, "-c", args.core, "-s", args.symbols,
               "--sample", str(args.sample)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{name} failed:\n{proc.stderr}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    return best


def measure_command(argv: List[str], args: argparse.Namespace) -> float:
    """The fastest wall time of the console script, program load included."""
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "drgn_softleaf.cli", "-c", args.core, "-s",
                               args.symbols, *argv], capture_output=True, text=True, cwd=REPO)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"drgn-softleaf {' '.join(argv)} failed:\n{proc.stderr}")
        best = min(best, time.perf_counter() - start)
    return best


def measure_crash(crash: str, args: argparse.Namespace,
                  command: str = "foreach vm -p") -> Optional[Dict[str, Any]]:
    """crash's *command* to /dev/null, its start-up subtracted (the fastest
    of --repeat runs of each)."""
    script = Path("/tmp/softleaf-bench-crash.cmd")
    quit_script = Path("/tmp/softleaf-bench-crash-quit.cmd")
    quit_script.write_text("quit\n")
    total = startup = float("inf")
    rss_kb = "0"
    for _ in range(args.repeat):
        script.write_text(f"{command} > /dev/null\nquit\n")
        start = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", f"/usr/bin/time -f '%e %M' {crash} --no_modules -s {args.symbols} "
                           f"{args.core} -i {script} >/dev/null"],
            capture_output=True, text=True)
        total = min(total, time.perf_counter() - start)
        try:
            _, rss_kb = proc.stderr.strip().splitlines()[-1].split()
        except (ValueError, IndexError):
            return {"error": proc.stderr.strip()[-300:]}
        # crash's start-up alone, to subtract.
        start = time.perf_counter()
        subprocess.run([crash, "--no_modules", "-s", args.symbols, args.core, "-i",
                        str(quit_script)], capture_output=True, text=True)
        startup = min(startup, time.perf_counter() - start)
    return {"seconds": total - startup, "startup_seconds": startup,
            "peak_rss_mb": int(rss_kb) / 1024, "exit": proc.returncode}


def run_layouts(entries: int, repeat: int) -> None:
    """
    The NumPy classifier of whole PTE tables (count_pte_group(), what
    summary and leaks run on) on the same mix of entries under each
    architecture layout: x86-64 and arm64 with 4K, 16K and 64K pages in
    each PTE era. Prints entries per second; the arm64 layouts should match
    x86-64's.
    """
    import array
    from collections import Counter

    from drgn_softleaf.arch.arm64 import SWAP_PTE_LAYOUTS, Arm64
    from drgn_softleaf.arch.x86_64 import X86_64_LAYOUT
    from drgn_softleaf.classify import count_pte_group
    from drgn_softleaf.leafops import Leafops, SwapTypeTable
    from drgn_softleaf.target import Target
    from drgn_softleaf.vma import Vma
    from drgn_softleaf.walk import PteSlots

    layouts = {"x86_64": X86_64_LAYOUT}
    for era in SWAP_PTE_LAYOUTS.values():
        for shift in (12, 14, 16):
            layouts[f"arm64 {1 << shift - 10}K {era.name}"] = Arm64(shift, 48, 48, 48, era)
    table = SwapTypeTable.linux_6_15()
    vma = Vma(0, 0, 1 << 47, 0x3, None, False, True, False)
    rng = random.Random(0)
    print(f"{'layout':34} {'entries/s':>12}")
    for name, layout in layouts.items():
        levels = layout.paging_levels({}, dict)
        ops = Leafops(layout, table, 36, True)
        target = Target(layout, levels, layout.level_shifts(levels),
                        layout.table_entries(levels), 48, 0, layout.physical_mask(), table,
                        ops, name, ())
        n = layout.entries_per_table
        groups = []
        for t in range(entries // n):
            values = []
            for _ in range(n):
                r = rng.random()
                if r < 0.7:
                    values.append(0x3 | 0x400 | (rng.getrandbits(30) << layout.page_shift)
                                  if name != "x86_64" else 0x67 | (rng.getrandbits(30) << 12))
                elif r < 0.9:
                    values.append(0)
                else:
                    values.append(ops.softleaf_to_pte(ops.swp_entry(rng.randrange(32),
                                                                    rng.getrandbits(20))))
            raw = array.array("Q", values).tobytes()
            groups.append(PteSlots(vma, t * n << layout.page_shift, memoryview(raw).cast("Q"),
                                   0, n, 0))
        best = None
        for _ in range(repeat):
            start = time.perf_counter()
            count_pte_group(target, groups, Counter())
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
        assert best is not None
        print(f"{name:34} {len(groups) * n / best:12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--fixture", default="linux-7.3-l5-perf")
    parser.add_argument("-c", "--core")
    parser.add_argument("-s", "--symbols")
    parser.add_argument("--crash", help="crash binary: also time 'foreach vm -p'")
    parser.add_argument("--sample", type=int, default=20000,
                        help="pages follow_phys() is timed on (default 20000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each measurement; the fastest counts (default 3)")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME",
                        help="leave out a measurement (repeatable): " + ", ".join(
                            list(_RUNS) + ["follow_phys"]))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--layouts", action="store_true",
                        help="only time the vector classifier under each architecture "
                        "layout (no vmcore)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.layouts:
        run_layouts(1 << 20, args.repeat)
        return
    if not args.core:
        from drgn_softleaf.demo import unpack

        fx = unpack(args.fixture)
        args.core, args.symbols = str(fx.vmcore), str(fx.vmlinux)
    results: Dict[str, Any] = {}
    names = list(_RUNS) + ["follow_phys"]
    for name in names:
        if name in args.skip:
            continue
        results[name] = measure(name, args)
    walls = {argv[0]: measure_command(argv, args) for argv in (["summary"], ["leaks"])}
    load_wall = measure_command(["decode", "0"], args)
    if args.crash:
        results["crash"] = measure_crash(args.crash, args)
        if "jsonl_big" in results:
            results["crash_big"] = measure_crash(args.crash, args,
                                                 f"vm -p {results['jsonl_big']['pid']}")
    results["wall_seconds"] = dict(walls, load=load_wall)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    pure = results["pure_floor"]["seconds"]
    summary = results["summary"]["seconds"]
    slots = results["pure_floor"]["slots"]
    print(f"vmcore {args.core}")
    print(f"{results['pure_floor']['tables']} page-table pages, {slots} slots in them; "
          f"{results['summary'].get('kinds')}")
    print(f"{'':12} {'seconds':>9} {'x pure floor':>13} {'x summary':>10} {'peak RSS MB':>12}")
    for name, r in results.items():
        if not isinstance(r, dict) or name == "wall_seconds":
            continue
        if "error" in r:
            print(f"{name:12} error: {r and r.get('error')}")
            continue
        print(f"{name:12} {r['seconds']:9.3f} {r['seconds'] / pure:13.2f} "
              f"{r['seconds'] / summary:10.2f} {r['peak_rss_mb']:12.0f}")
    print(f"end to end (console script, program load included; load alone "
          f"{load_wall:.2f} s): summary {walls['summary']:.2f} s, leaks {walls['leaks']:.2f} s, "
          f"leaks / summary {walls['leaks'] / walls['summary']:.2f}")
    print(f"summary beyond program load: {walls['summary'] - load_wall:.2f} s, "
          f"{(walls['summary'] - load_wall) / pure:.1f}x the pure floor")
    print("reverse lookup (pfn to the entries mapping it): no such command yet")
    if "follow_phys" in results:
        fp = results["follow_phys"]
        print(f"follow_phys: {fp['sampled']} pages in {fp['sample_seconds']:.2f} s, "
              f"extrapolated to {fp['slots']} pages; summary is "
              f"{fp['seconds'] / summary:.0f}x faster")
    if "crash" in results and results["crash"] and "error" not in results["crash"]:
        c = results["crash"]
        line = f"crash: start-up {c['startup_seconds']:.1f} s (excluded)"
        if "jsonl" in results:
            line += (f"; foreach vm -p takes {c['seconds'] / results['jsonl']['seconds']:.2f}x "
                     "the time of the jsonl listing of every process")
        big = results.get("crash_big")
        if big and "error" not in big:
            line += (f"; vm -p of PID {results['jsonl_big']['pid']} takes {big['seconds']:.2f} s, "
                     f"{big['seconds'] / results['jsonl_big']['seconds']:.2f}x the time of its "
                     "jsonl listing")
        print(line)

if __name__ == "__main__":
    main()
