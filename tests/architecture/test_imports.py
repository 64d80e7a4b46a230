"""The house stays readable: no import cycle between the project's modules, every module
imports on its own in a fresh interpreter (no hidden order between them), and the docs map
every module."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from config import PROJECT_DIR

PACKAGES = ("broker", "store", "views", "backtesting", "fyers_sandbox", "bench")


def project_modules() -> dict[str, Path]:
    """Dotted name → file of every module of the project (tests excluded)."""
    files = [*PROJECT_DIR.glob("*.py")]
    for package in PACKAGES:
        files += (PROJECT_DIR / package).glob("*.py")
    modules = {}
    for path in files:
        parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file, functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import submodule` needs the submodule, not the package's own code
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # 'store.base.Store' → 'store.base'
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def test_the_import_graph_has_no_cycle():
    modules = project_modules()
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        pytest.fail(f"import cycle: {' → '.join(cycle.args[1])}")


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(name for name in project_modules() if name != "__main__")
    script = "import importlib, sys\nimportlib.import_module(sys.argv[1])"
    failures = []
    for name in names:
        done = subprocess.run([sys.executable, "-c", script, name], cwd=PROJECT_DIR,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            failures.append(f"{name}: {done.stderr.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_the_docs_map_every_module():
    # docs/architecture.md is where a newcomer finds any file; backtesting/'s files are mapped
    # in backtesting.md, and a page's views/<page>.py by the page's name in the list of pages.
    architecture = (PROJECT_DIR / "docs" / "architecture.md").read_text()
    backtesting = (PROJECT_DIR / "docs" / "backtesting.md").read_text()
    pages = re.search(r"`views/<page>\.py` and `templates/<page>\.html`: ([a-z, ]+)",
                      architecture)[1].split(", ")
    unmapped = []
    for path in project_modules().values():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        doc = backtesting if path.parent.name == "backtesting" else architecture
        if path.name not in doc and not (path.parent.name == "views" and path.stem in pages):
            unmapped.append(str(path.relative_to(PROJECT_DIR)))
    assert unmapped == []
