"""The REST layer's shape: one package per resource declaring its routes keyword-only, no import cycle,
and an application layer that knows nothing of HTTP.

Read from the source (ast) and, for import order, from fresh interpreters: a cycle held together by
a bottom-of-file import only fails when the "wrong" module is imported first, so each module is
imported first once.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_core.rest.routes import OPENAPI_ROUTE, ROUTES
from pipeline_core.rest.routing import Route

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline_core.rest", "pipeline_core.application")
RESOURCES = ("pipelines", "endpoints", "runs", "schedules", "views")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        base = ROOT / package.replace(".", "/")
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``module`` imports anywhere (module level or inside functions), with the
    packages whose ``__init__`` such an import runs."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets.add(node.module)
            targets.update(f"{node.module}.{alias.name}" for alias in node.names)
    edges = set()
    for target in targets:
        parts = target.split(".")
        edges.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return {edge for edge in edges if edge in known and edge != module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as the list of modules around it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_rest_and_application_modules_import_each_other_without_a_cycle() -> None:
    modules = _modules()
    graph = {name: _imported(name, path, set(modules)) for name, path in modules.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"
    # the check itself sees a cycle when there is one
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_application_layer_knows_nothing_of_http() -> None:
    for name, path in _modules().items():
        if not name.startswith("pipeline_core.application"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for imported in names:
                assert not imported.startswith(("pipeline_core.rest", "azure.functions", "functions")), \
                    f"{name} imports {imported}: use cases must not depend on the REST layer"


def test_no_module_imports_after_its_code_starts() -> None:
    """A module-level import below a definition is how a cycle gets held together: refused."""
    for name, path in _modules().items():
        seen_code = False
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                assert not seen_code, f"{name}:{node.lineno} imports after its code starts"
            elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Assign | ast.AnnAssign):
                seen_code = True


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    script = ("import importlib, json, sys\n"
              "failed = {}\n"
              "for name in json.loads(sys.argv[1]):\n"
              "    for loaded in [m for m in sys.modules if m == 'pipeline_core' or m.startswith('pipeline_core.')]:\n"
              "        del sys.modules[loaded]\n"
              "    try:\n"
              "        importlib.import_module(name)\n"
              "    except Exception as exc:\n"
              "        failed[name] = repr(exc)\n"
              "print(json.dumps(failed))\n")
    names = sorted(_modules())
    done = subprocess.run([sys.executable, "-c", script, json.dumps(names)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_route_fields_are_keyword_only() -> None:
    assert all(f.kw_only for f in dataclasses.fields(Route))
    with pytest.raises(TypeError):
        Route("GET", "/api/x", "x", "Read", lambda s, r: None, "x", "x")  # type: ignore[misc,arg-type]


@pytest.mark.parametrize("resource", RESOURCES)
def test_each_resource_declares_its_routes_by_keyword_next_to_its_handlers(resource: str) -> None:
    package = f"pipeline_core.rest.{resource}"
    source = (ROOT / package.replace(".", "/") / "routes.py").read_text()
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Route"]
    assert calls, f"{package}.routes declares no Route"
    for call in calls:
        assert not call.args, f"{package}.routes line {call.lineno}: Route(...) with positional arguments"
    mine = [r for r in ROUTES if r.handler.__module__.startswith(package + ".")]
    assert len(mine) == len(calls), f"every route of {package}.routes is served by a handler of {package}"


def test_the_table_is_the_resource_routes_and_the_document_route_only() -> None:
    resource_routes = [r for r in ROUTES if r is not OPENAPI_ROUTE]
    owners = {r.operation_id: r.handler.__module__.split(".")[2] for r in resource_routes}
    assert set(owners.values()) == set(RESOURCES)
    assert len({r.operation_id for r in ROUTES}) == len(ROUTES)
