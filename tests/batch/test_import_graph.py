"""The batch layer sits below the wiring: nothing it imports, at module level or inside a
function, leads back to `diplomas.bootstrap` (the cycle bootstrap -> api -> batch_queue ->
batches -> bootstrap is gone), and the task queue imports no route module."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import diplomas

PACKAGE = Path(diplomas.__file__).parent
BATCH_LAYER = (
    "diplomas.batches",
    "diplomas.batch_workers",
    "diplomas.manifests",
    "diplomas.atomic",
    "diplomas.shards",
    "diplomas.tasks",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every `diplomas` module that `name` imports, wherever in it the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module in known:
                yield module
            for alias in node.names:  # `from . import routes` names a module
                if f"{module}.{alias.name}" in known:
                    yield f"{module}.{alias.name}"


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: set(_imports(name, path, known)) for name, path in known.items()}


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """An import chain from `start` to `goal`, if one exists."""
    came_from: dict[str, str] = {start: start}
    todo = [start]
    while todo:
        here = todo.pop()
        for there in sorted(graph.get(here, ())):
            if there not in came_from:
                came_from[there] = here
                todo.append(there)
    if goal not in came_from:
        return None
    chain = [goal]
    while chain[-1] != start:
        chain.append(came_from[chain[-1]])
    return chain[::-1]


@pytest.mark.parametrize("module", BATCH_LAYER)
def test_the_batch_layer_does_not_import_bootstrap(module: str) -> None:
    chain = _path(_graph(), module, "diplomas.bootstrap")
    assert chain is None, " -> ".join(chain or ())


def test_the_task_queue_imports_no_route_module() -> None:
    graph = _graph()
    routes = [m for m in graph if m.startswith(("diplomas.api.routes", "diplomas.console.routes"))]
    for route in routes:
        chain = _path(graph, "diplomas.tasks", route)
        assert chain is None, " -> ".join(chain or ())


def test_the_graph_sees_the_edges_it_checks() -> None:
    graph = _graph()
    assert "diplomas.shards" in graph["diplomas.tasks"]
    assert "diplomas.api" in graph["diplomas.bootstrap"]  # build_app's, inside a function


@pytest.mark.parametrize("module", [*BATCH_LAYER, "diplomas.bootstrap"])
def test_each_imports_first_in_a_fresh_interpreter(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
