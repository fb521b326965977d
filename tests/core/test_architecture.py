"""The architecture as a checked contract: imports run downward through the layers of pyproject.toml
([tool.importlinter]) and no package's modules import each other in a cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_imports_follow_the_layers_contract() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _library_trees():  # type: ignore[no-untyped-def]
    import ast

    for path in sorted((REPO / "host" / "e2train").rglob("*.py")):
        yield path.relative_to(REPO), ast.parse(path.read_text(encoding="utf-8"))


def test_no_module_global_state_and_no_second_command_line_parser() -> None:
    """State lives in objects the caller owns (no ``global`` rebinding); every command is a click
    command of ``e2train`` or a benchmark, none an argparse ``main`` of its own."""
    import ast

    found = []
    for path, tree in _library_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                found.append(f"{path}:{node.lineno}: global {', '.join(node.names)}")
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path}:{node.lineno}: imports argparse" for n in names if n.split(".")[0] == "argparse"]
    assert not found, "\n".join(found)
