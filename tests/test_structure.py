# SPDX-License-Identifier: LGPL-2.1-or-later
"""
The shape of the package (README: "How it fits together"): modules in
layers, each importing only from the layers below it (lazy imports inside
functions included), no module over 800 lines, no function over 80 lines
unless its docstring says why, and one stream from the walk to every
consumer (nothing but walk, classify and scan calls the walker or the
batching).
"""

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "drgn_softleaf"

# From the bottom up; a module may import any module of a lower layer.
LAYERS: List[Set[str]] = [
    {"probe", "leafops", "fastjson", "demo"},
    {"arch.x86_64", "arch.arm64"},
    {"arch"},
    {"target"},
    {"vma"},
    {"walk"},
    {"classify"},
    {"enrich"},
    {"checks"},
    {"live"},
    {"scan"},
    {"triage.records"},
    {"triage.collect", "triage.counters", "triage.tasks"},
    {"triage.rules"},
    {"triage.confirm"},
    {"triage"},
    {"schema"},
    {"jsonl"},
    {"render"},
    {"commands"},
    {"cli", "plugin"},
    {""},  # the package's __init__: the public API, imported on first use
]
LAYER_OF: Dict[str, int] = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def _modules() -> Dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(parts)] = path
    return out


def _imports(path: Path) -> Set[str]:
    """The drgn_softleaf modules *path* imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: List[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name == "drgn_softleaf" or name.startswith("drgn_softleaf."):
                found.add(name[len("drgn_softleaf."):] if "." in name else "")
    mods = _modules()
    return {n for n in found if n in mods}


def test_every_module_has_a_layer():
    assert set(_modules()) <= set(LAYER_OF), set(_modules()) - set(LAYER_OF)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_flow_down(module):
    path = _modules()[module]
    up = [m for m in _imports(path) if m != module and LAYER_OF[m] >= LAYER_OF[module]]
    assert not up, f"{module} (layer {LAYER_OF[module]}) imports {up} from its layer or above"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_size(module):
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= 800, f"{module}: {lines} lines"


def _long_functions(path: Path) -> List[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            doc = ast.get_docstring(node) or ""
            if length > 80 and "long because" not in doc:
                out.append(f"{node.name} ({length} lines)")
    return out


@pytest.mark.parametrize("module", sorted(_modules()))
def test_function_size(module):
    assert not _long_functions(_modules()[module])


def test_one_stream_from_the_walk():
    """Only walk, classify and scan build the walk -> classify stream."""
    streams = ("walk_range", "batch_items", "select_pte_group")
    allowed = {"walk", "classify", "scan"}
    for module, path in _modules().items():
        if module in allowed:
            continue
        called = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
                  for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)}
        assert not called & set(streams), f"{module} calls {called & set(streams)}"


def test_the_checker_sees_a_violation(tmp_path):
    """The size and stream checks do fail on what they look for."""
    src = tmp_path / "m.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    src.write_text(f"def f():\n{body}\n    walk_range(1)\n")
    assert _long_functions(src) == ["f (87 lines)"]
    src.write_text(f'def f():\n    """long because it must."""\n{body}\n')
    assert _long_functions(src) == []
