"""The three layers import one way: deletion_alarms (operations) -> stacks -> detections; and the
code that runs inside AWS (functions/) imports none of them: the build embeds its source. The
operations may import functions/ (the inventory reads as the daily check does).

Parsed with ``ast``, imports inside functions included, so a lazy import cannot hide a wrong
direction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Which of the project's packages each package may import (besides itself).
ALLOWED = {
    "detections": set(),
    "stacks": {"detections"},
    # The operations read what the notifier reads with its own functions (one logic, two callers);
    # the notifier imports nothing back.
    "deletion_alarms": {"detections", "stacks", "functions"},
    "functions": set(),
}
# Third-party packages that call AWS belong to the operations layer only.
AWS_CALLERS = {"boto3", "botocore"}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str, root: Path = ROOT) -> list[str]:
    forbidden = (set(ALLOWED) - ALLOWED[package] - {package})
    if package not in ("deletion_alarms", "functions"):  # the Lambda runtime has boto3
        forbidden |= AWS_CALLERS
    return [f"{path.relative_to(root)} imports {name}"
            for path in sorted((root / package).glob("*.py"))
            for name in sorted(imported_top_levels(path) & forbidden)]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_one_way(package: str) -> None:
    assert violations(package) == []


def test_the_check_catches_a_wrong_direction(tmp_path: Path) -> None:
    for package in ALLOWED:
        (tmp_path / package).mkdir()
    (tmp_path / "detections" / "bad.py").write_text("def f():\n    from stacks.workload import x\n")
    (tmp_path / "stacks" / "bad.py").write_text("import boto3\nfrom deletion_alarms import cli\n")
    (tmp_path / "deletion_alarms" / "ok.py").write_text("from stacks import workload\nimport boto3\n")
    assert violations("detections", tmp_path) == ["detections/bad.py imports stacks"]
    assert violations("stacks", tmp_path) == ["stacks/bad.py imports boto3",
                                              "stacks/bad.py imports deletion_alarms"]
    assert violations("deletion_alarms", tmp_path) == []


def test_every_module_belongs_to_a_layer() -> None:
    top = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert top == set(ALLOWED)


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Which of the project's modules each module imports (``package.module``), anywhere in the file,
    ``if TYPE_CHECKING`` blocks included."""
    modules = {f"{p.parent.name}.{p.stem}": p for package in ALLOWED for p in sorted((root / package).glob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each once, starting at its smallest module name."""
    found: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for following in sorted(graph[path[-1]]):
            if following == path[0]:
                found.add(tuple(path))
            elif following not in path and following > path[0]:
                walk(path + [following])

    for start in sorted(graph):
        walk([start])
    return [list(c) for c in sorted(found)]


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(module_graph()) == []


def test_the_circle_check_finds_a_circle(tmp_path: Path) -> None:
    for package in ALLOWED:
        (tmp_path / package).mkdir()
    (tmp_path / "stacks" / "a.py").write_text("from stacks.b import x\n")
    (tmp_path / "stacks" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                              "    from stacks import c\n")
    (tmp_path / "stacks" / "c.py").write_text("import stacks.a\n")
    assert cycles(module_graph(tmp_path)) == [["stacks.a", "stacks.b", "stacks.c"]]
