"""infra/*.bicep parses, and its files agree with each other: what ``bicep build`` would refuse.

No Bicep compiler installs here (it ships as a .NET binary from GitHub/NuGet,
neither reachable; ``az bicep install`` downloads it too). So this test parses
every file with tree-sitter-bicep (the Bicep grammar, from PyPI) and checks, on
the syntax tree, the mistakes a parser alone misses and ``bicep build`` reports:
a symbol used but never declared, a module path that does not exist, a module
given a parameter it does not declare or not given one it requires, an output
read from a module that does not produce it, a ``loadJsonContent`` property that
the JSON file lacks, and azd's parameter file naming a parameter main.bicep
lacks. It does not check types, resource API shapes or function signatures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FILES = sorted(INFRA.rglob("*.bicep"))

tree_sitter = pytest.importorskip("tree_sitter", reason="tree-sitter is a dev dependency: pip install -e '.[dev]'")
tree_sitter_bicep = pytest.importorskip("tree_sitter_bicep",
                                        reason="tree-sitter-bicep is a dev dependency: pip install -e '.[dev]'")

#: Declarations whose first identifier child is the declared name.
DECLARATIONS = {"parameter_declaration", "variable_declaration", "resource_declaration", "module_declaration",
                "output_declaration", "type_declaration", "user_defined_function"}


@dataclass
class BicepFile:
    path: Path
    params: dict[str, bool] = field(default_factory=dict)  # name -> has a default value
    outputs: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)
    modules: dict[str, tuple[Path, set[str]]] = field(default_factory=dict)  # symbol -> (file, params passed)
    json_vars: dict[str, Path] = field(default_factory=dict)  # var = loadJsonContent(path)
    used: list[tuple[str, int]] = field(default_factory=list)  # identifiers read, with their line
    members: list[tuple[list[str], int]] = field(default_factory=list)  # a.b.c chains, with their line
    errors: list[str] = field(default_factory=list)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _parser() -> object:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def _walk(node: object) -> Iterator[object]:
    yield node
    for child in node.children:  # type: ignore[attr-defined]
        yield from _walk(child)


def _text(node: object) -> str:
    return node.text.decode()  # type: ignore[attr-defined]


def _name(node: object) -> str:
    return next(_text(c) for c in node.children if c.type == "identifier")  # type: ignore[attr-defined]


def _string(node: object) -> str:
    return next(_text(c) for c in node.children if c.type == "string").strip("'")  # type: ignore[attr-defined]


def _is_reference(node: object) -> bool:
    """Whether an identifier node reads a symbol (not a name being declared, a key, a function or a type)."""
    parent = node.parent  # type: ignore[attr-defined]
    kind = parent.type
    if kind in DECLARATIONS:  # the first identifier is the name declared; later ones are read
        return next(c for c in parent.children if c.type == "identifier") != node
    if kind in {"decorator", "type", "loop_variable", "loop_enumerator", "for_loop_parameters",
                "lambda_expression"}:
        return False
    if kind == "object_property" and parent.children[0] == node:
        return False
    if kind == "call_expression" and parent.child_by_field_name("function") == node:
        return False
    if kind == "for_statement" and parent.child_by_field_name("initializer") == node:
        return False
    return kind != "member_expression" or parent.child_by_field_name("object") == node


@cache
def load(path: Path) -> BicepFile:
    source = path.read_bytes()
    tree = _parser().parse(source)  # type: ignore[attr-defined]
    file = BicepFile(path)
    for node in _walk(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            line = node.start_point[0] + 1
            file.errors.append(f"{_rel(path)}:{line}: syntax error near {_text(node)[:40]!r}")
    for node in tree.root_node.children:
        if node.type not in DECLARATIONS:
            continue
        name = _name(node)
        file.declared.add(name)
        if node.type == "parameter_declaration":
            file.params[name] = any(c.type not in {"identifier", "type", "param"} and c.is_named
                                    for c in node.children)
        elif node.type == "output_declaration":
            file.outputs.add(name)
        elif node.type == "module_declaration":
            body = node.children[-1]
            if body.type in {"if_statement", "for_statement"}:
                body = next(c for c in body.children if c.type == "object")
            passed: set[str] = set()
            for prop in (c for c in body.children if c.type == "object_property"):
                if _text(prop.children[0]) == "params" and prop.children[-1].type == "object":
                    passed = {_text(p.children[0]) for p in prop.children[-1].children if p.type == "object_property"}
            file.modules[name] = ((path.parent / _string(node)).resolve(), passed)
        elif node.type == "variable_declaration":
            match = re.fullmatch(r"var \w+ = loadJsonContent\('([^']+)'\)", _text(node).strip())
            if match:
                file.json_vars[name] = (path.parent / match.group(1)).resolve()
    for node in _walk(tree.root_node):
        if node.type == "for_statement":  # loop variables are in scope inside their loop
            file.declared |= {_text(c) for c in _walk(node) if c.type in {"loop_variable", "loop_enumerator"}}
            initializer = node.child_by_field_name("initializer")
            if initializer is not None:
                file.declared.add(_text(initializer))
        elif node.type == "lambda_expression":
            file.declared |= {_text(c) for c in node.children if c.type == "identifier"}
        elif node.type == "identifier" and _is_reference(node):
            file.used.append((_text(node), node.start_point[0] + 1))
    # Property chains by text: the grammar binds `.` looser than it should (`a - b.c` parses as `(a - b).c`).
    for number, line in enumerate(source.decode().splitlines(), 1):
        code = re.sub(r"'(?:[^'\\]|\\.)*'", lambda s: " ".join(re.findall(r"\$\{([^}]*)\}", s.group(0))), line)
        code = code.split("//", 1)[0]  # strings first: a URL in a string is no comment
        for match in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)", code):
            file.members.append(([match.group(1), *match.group(2)[1:].split(".")], number))
    return file


def _where(file: BicepFile, line: int) -> str:
    return f"{_rel(file.path)}:{line}"


def test_there_are_bicep_files_and_main_is_among_them() -> None:
    assert INFRA / "main.bicep" in FILES and len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_each_file_parses_and_uses_only_declared_symbols(path: Path) -> None:
    file = load(path)
    assert file.errors == []
    undeclared = [f"{_where(file, line)}: '{name}' is not declared" for name, line in file.used
                  if name not in file.declared]
    assert undeclared == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_modules_get_the_parameters_they_declare_and_give_the_outputs_read(path: Path) -> None:
    file = load(path)
    problems: list[str] = []
    for symbol, (target, passed) in file.modules.items():
        if not target.is_file():
            problems.append(f"module {symbol}: {target} does not exist")
            continue
        module = load(target)
        problems += [f"module {symbol}: {target.name} has no parameter '{p}'" for p in passed - set(module.params)]
        problems += [f"module {symbol}: required parameter '{p}' of {target.name} is not passed"
                     for p, has_default in module.params.items() if not has_default and p not in passed]
    for chain, line in file.members:
        if chain[0] in file.modules and len(chain) >= 3 and chain[1] == "outputs":
            module = load(file.modules[chain[0]][0])
            if chain[2] not in module.outputs:
                problems.append(f"{_where(file, line)}: {'.'.join(chain[:3])} is not an output of the module")
        if chain[0] in file.json_vars:
            data = json.loads(file.json_vars[chain[0]].read_text())
            for key in chain[1:]:
                if not isinstance(data, dict) or key not in data:
                    problems.append(f"{_where(file, line)}: {'.'.join(chain)}: no '{key}' in "
                                    f"{file.json_vars[chain[0]].name}")
                    break
                data = data[key]
    assert problems == []


def test_azd_parameter_file_names_only_main_parameters_and_every_required_one() -> None:
    main = load(INFRA / "main.bicep")
    given = set(json.loads((INFRA / "main.parameters.json").read_text())["parameters"])
    assert given - set(main.params) == set(), "main.parameters.json names parameters main.bicep lacks"
    required = {p for p, has_default in main.params.items() if not has_default}
    assert required - given == set(), "main.bicep parameters without a default must come from azd"


def test_the_checks_catch_what_they_claim(tmp_path: Path) -> None:
    """The checks above are not vacuous: a broken pair of files trips each of them."""
    (tmp_path / "mod.bicep").write_text("param needed string\noutput made string = needed\n")
    (tmp_path / "main.bicep").write_text(
        "param p string\n"
        "module m 'mod.bicep' = {\n  name: 'm'\n  params: {\n    extra: p\n  }\n}\n"
        "output o string = m.outputs.missing\n"
        "output q string = typo\n")
    (tmp_path / "broken.bicep").write_text("param p string\nvar broken = [\n  p\n")
    assert load(tmp_path / "broken.bicep").errors, "a syntax error is found"
    main = load(tmp_path / "main.bicep")
    assert main.errors == []
    assert ("typo", 9) in [(n, line) for n, line in main.used if n not in main.declared]
    target, passed = main.modules["m"]
    module = load(target)
    assert passed - set(module.params) == {"extra"} and module.params == {"needed": False}
    assert (["m", "outputs", "missing"], 8) in main.members and "missing" not in module.outputs
