"""The engine's layout: domain rooms, no import cycles, no Streamlit, no demo builder at runtime.

The import graph is read from the source (every ``import`` / ``from`` statement, lazy
imports inside functions included), so the test needs no TensorFlow.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "seqnn_engine"

ROOMS = {"model", "attribution", "motifs", "genomics", "io", "batch", "analysis", "cli", "plot", "session"}
TOP_MODULES = {"__init__", "__main__", "errors", "limits", "memory"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(tree: ast.Module):
    """Every import statement of a module, lazy ones inside functions included."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rsplit(".", 1)[0]
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module
                targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ importing its own submodules is not a cycle through the package.
    state: dict[str, int] = {}
    cycles = []

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph[m]):
            if n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                cycles.append(path[path.index(n):] + [n] if n in path else [m, n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"


def test_top_level_is_rooms():
    entries = {p.stem for p in PKG.glob("*.py")}
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert entries <= TOP_MODULES, f"top-level modules outside the rooms: {sorted(entries - TOP_MODULES)}"
    assert packages <= ROOMS, f"packages that are not rooms: {sorted(packages - ROOMS)}"
    assert "demo" not in packages


def test_engine_never_imports_streamlit_or_the_demo_builder():
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith("streamlit"), f"{path} imports streamlit"
                assert not n.startswith("tools"), f"{path} imports the demo builder ({n})"


def test_cycle_detector_finds_a_planted_cycle(tmp_path, monkeypatch):
    """The detector itself: a two-module cycle written to a scratch package is reported."""
    pkg = tmp_path / "seqnn_engine"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("from . import a\nx = 1\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PKG", pkg)
    graph = _graph()
    assert graph["seqnn_engine.a"] == {"seqnn_engine.b"}
    assert "seqnn_engine.a" in graph["seqnn_engine.b"]
