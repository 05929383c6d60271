"""Shape checks for a PipelineSpec that arrives over HTTP, before any engine code reads it.

Why separate from ``validation.validate_spec``: that function assumes a spec
``build_spec`` produced (every key present, every reference resolvable). A
posted document can be anything, and a missing key must be a 400 that names
the step and the field, not a ``KeyError`` deep in the planner (a 500). The
edges are recomputed from inputs/outputs and must match, so a hand-edited spec
cannot make the planner start a step before the one that feeds it.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_core.application.names import is_key_safe
from pipeline_core.engine.step_kinds import find_step_kind, registered_types
from pipeline_core.parallel.config import ConfigError, check_value
from pipeline_core.pipeline.core.graph import NAME_RE
from pipeline_core.safe_paths import datastore_path_problem, script_name_problem, text_problems
from pipeline_core.spec import SCHEMA
from pipeline_core.validation import SNAPSHOT_RE, STEP_NAME_RE, Problem, data_id_problem

TOKEN_KINDS = ("lit", "param", "data", "datapath")
PARAMETER_TYPES = ("str", "int", "float", "bool", "datapath", "dataset")
DATA_KINDS = ("pipeline_data", "output", "data_reference", "datapath", "dataset")
INPUT_TYPES = ("file", "tabular")
#: Published parameter declarations and each step's ``recorded`` settings are stored as JSON in Table
#: properties (at most 32K characters; a run row holds the defaults plus the assigned values).
MAX_PARAMETERS_CHARS = 15_000
MAX_RECORDED_CHARS = 32_000


def _json_chars(value: Any) -> int:
    return len(json.dumps(value, sort_keys=True, default=str))


def _opt_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _list(step: dict[str, Any], key: str) -> list[Any]:
    value = step.get(key)
    return value if isinstance(value, list) else []


def _default_fits(kind: str, default: Any) -> bool:
    if kind == "bool":
        return isinstance(default, bool)
    if kind == "int":
        return isinstance(default, int) and not isinstance(default, bool)
    if kind == "float":
        return isinstance(default, (int, float)) and not isinstance(default, bool)
    if kind == "str":
        return isinstance(default, str)
    if kind == "dataset":
        paths = (default.get("definition") or {}).get("paths") if isinstance(default, dict) else None
        return isinstance(paths, list) and bool(paths) and all(
            isinstance(p, dict) and isinstance(p.get("datastore"), str) and isinstance(p.get("path"), str) for p in paths)
    return isinstance(default, dict) and isinstance(default.get("datastore"), str) and _opt_str(default.get("path"))


class _Checker:
    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(f"PipelineSpec.{where}: {message}", where))

    def text(self) -> None:
        """NUL and lone surrogates anywhere: they cannot reach a process, a Table property or a hash as text."""
        found: list[tuple[str, str]] = []
        text_problems(self.doc, "", found)
        for where, problem in found:
            self.add(where.lstrip(".") or "(document)", problem)

    def datastores(self, params: dict[str, Any], data: dict[str, Any]) -> None:
        """Datastore names become Table keys when validated and run; refuse the ones that cannot be."""
        named: list[tuple[str, Any]] = []
        for name, entry in params.items():
            if isinstance(entry, dict) and entry.get("type") == "datapath" and isinstance(entry.get("default"), dict):
                named.append((f"parameters[{name!r}].default.datastore", entry["default"].get("datastore")))
        for data_id, entry in data.items():
            if not isinstance(entry, dict):
                continue
            named.append((f"data[{data_id!r}].datastore", entry.get("datastore")))
            definition = entry.get("definition")
            for index, path in enumerate(definition.get("paths") or [] if isinstance(definition, dict) else []):
                if isinstance(path, dict):
                    named.append((f"data[{data_id!r}].definition.paths[{index}].datastore", path.get("datastore")))
        for where, value in named:
            if isinstance(value, str) and not is_key_safe(value):
                self.add(where, f"{value!r} is not a datastore name (no / \\ # ? or control characters)")

    def parameters(self) -> dict[str, Any]:
        params = self.doc.get("parameters", {})
        if not isinstance(params, dict):
            self.add("parameters", "must be an object of name -> {type, default}")
            return {}
        for name, entry in params.items():
            where = f"parameters[{name!r}]"
            if not NAME_RE.match(name):
                self.add(where, "a parameter name uses letters, digits and underscores")
            if not isinstance(entry, dict) or entry.get("type") not in PARAMETER_TYPES:
                self.add(where, f"must be {{'type': one of {', '.join(PARAMETER_TYPES)}, 'default': value}}")
            elif not _default_fits(entry["type"], entry.get("default")):
                self.add(where, f"default {entry.get('default')!r} does not fit type {entry['type']!r}")
        size = _json_chars(params)
        if size > MAX_PARAMETERS_CHARS:
            self.add("parameters", f"take {size} characters as JSON; the limit is {MAX_PARAMETERS_CHARS}: keep "
                                   "defaults short and pass large values as data (a DataPath)")
        return params

    def data(self, params: dict[str, Any]) -> dict[str, Any]:
        data = self.doc.get("data", {})
        if not isinstance(data, dict):
            self.add("data", "must be an object of data id -> {kind, ...}")
            return {}
        for data_id, entry in data.items():
            where = f"data[{data_id!r}]"
            if not isinstance(entry, dict) or entry.get("kind") not in DATA_KINDS:
                self.add(where, f"must be an object whose kind is one of {', '.join(DATA_KINDS)}")
                continue
            kind = entry["kind"]
            problem = data_id_problem(data_id, entry)
            if problem:
                self.add(where, f"the data id {problem}")
            if isinstance(entry.get("path"), str) and (problem := datastore_path_problem(entry["path"])):
                self.add(f"{where}.path", f"{entry['path']!r} {problem}")
            if kind == "datapath":
                param = entry.get("parameter")
                if not isinstance(param, str) or (params.get(param) or {}).get("type") != "datapath":
                    self.add(where, f"parameter {param!r} must name a DataPath parameter of the spec")
            elif kind == "data_reference" and not isinstance(entry.get("datastore"), str):
                self.add(where, "a data_reference needs a datastore name")
            elif kind == "dataset" and "parameter" in entry:
                param = entry.get("parameter")
                if not isinstance(param, str) or (params.get(param) or {}).get("type") != "dataset":
                    self.add(where, f"parameter {param!r} must name a dataset parameter of the spec")
            elif kind == "dataset":
                paths = (entry.get("definition") or {}).get("paths") if isinstance(entry.get("definition"),
                                                                                   dict) else None
                if not isinstance(paths, list) or not paths or not all(
                        isinstance(p, dict) and isinstance(p.get("datastore"), str) and isinstance(p.get("path"), str)
                        for p in paths):
                    self.add(where, "a dataset needs definition.paths: a non-empty list of {datastore, path}")
            elif not (_opt_str(entry.get("datastore")) and _opt_str(entry.get("path"))
                      and _opt_str(entry.get("producer"))):
                self.add(where, "datastore, path and producer must be strings or null")
        return data

    def token(self, where: str, token: Any, params: dict[str, Any], data: dict[str, Any]) -> None:
        if not isinstance(token, dict) or len(token) != 1 or next(iter(token)) not in TOKEN_KINDS:
            self.add(where, f"must be one of {{'lit': text}}, {{'param': name}}, {{'data': id}}, "
                            f"{{'datapath': name}}, not {token!r}")
            return
        kind, value = next(iter(token.items()))
        if not isinstance(value, str):
            self.add(where, f"{kind} must be a string, not {value!r}")
        elif kind in ("param", "datapath") and value not in params:
            self.add(where, f"refers to parameter {value!r}, which the spec does not declare in parameters")
        elif kind == "data" and value not in data:
            self.add(where, f"refers to data {value!r}, which the spec does not declare in data")

    def step(self, index: int, step: Any, params: dict[str, Any], data: dict[str, Any]) -> str | None:
        if not isinstance(step, dict):
            self.add(f"steps[{index}]", "must be an object")
            return None
        name = step.get("name")
        if not isinstance(name, str) or not name:
            self.add(f"steps[{index}].name", "is required (a non-empty string)")
            return None
        where = f"steps[{index}] ({name!r})"
        if not STEP_NAME_RE.match(name):
            self.add(f"{where}.name", "is invalid: use 1-128 letters, digits, spaces, '.', '_' or '-', starting "
                                      "with a letter or digit")
        kind = find_step_kind(step.get("type"))  # the registry of step kinds (engine/step_kinds.py)
        if kind is None:
            self.add(f"{where}.type", f"must be one of {', '.join(registered_types())}, not {step.get('type')!r}")
        elif step["type"] == "ParallelRunStep":
            self.parallel(where, step, params, data)
        for key in ("arguments", "inputs", "outputs", "run_after"):
            if not isinstance(step.get(key, []), list):
                self.add(f"{where}.{key}", "must be a list")
        for position, token in enumerate(_list(step, "arguments")):
            self.token(f"{where}.arguments[{position}]", token, params, data)
        params_doc = step.get("params", {})
        if not isinstance(params_doc, dict):
            self.add(f"{where}.params", "must be an object of name -> argument token")
        else:
            for key, token in params_doc.items():
                self.token(f"{where}.params[{key!r}]", token, params, data)
        for key in ("inputs", "outputs"):
            for data_id in _list(step, key):
                if not isinstance(data_id, str) or data_id not in data:
                    self.add(f"{where}.{key}", f"{data_id!r} is not declared in data")
        for before in _list(step, "run_after"):
            if not isinstance(before, str):
                self.add(f"{where}.run_after", f"{before!r} must be a step name")
        if not isinstance(step.get("allow_reuse", True), bool):
            self.add(f"{where}.allow_reuse", "must be true or false")
        if (kind is None or kind.script or "script_name" in step) and \
                (problem := script_name_problem(step.get("script_name"))) is not None:
            self.add(f"{where}.script_name", f"{step.get('script_name')!r} {problem}")
        if "snapshot" in step and not (isinstance(step["snapshot"], str) and SNAPSHOT_RE.match(step["snapshot"])):
            self.add(f"{where}.snapshot", "must be the 64-character hex hash of an uploaded snapshot")
        if "script_name" in step and "snapshot" not in step:
            self.add(f"{where}.snapshot", "is missing: the step has a script but no snapshot of its "
                                          "source_directory; build the spec where the source folder exists")
        if not isinstance(step.get("recorded", {}), (dict, type(None))):
            self.add(f"{where}.recorded", "must be an object")
        elif (size := _json_chars(step.get("recorded") or {})) > MAX_RECORDED_CHARS:
            self.add(f"{where}.recorded", f"takes {size} characters as JSON; the limit is {MAX_RECORDED_CHARS}")
        return name

    def parallel(self, where: str, step: dict[str, Any], params: dict[str, Any], data: dict[str, Any]) -> None:
        """A ParallelRunStep's config, batched inputs and input type, as ``ParallelRunStep(...)`` builds them."""
        config = step.get("parallel_run_config")
        if not isinstance(config, dict) or not isinstance(config.get("values", {}), dict) \
                or not isinstance(config.get("parameters", {}), dict):
            self.add(f"{where}.parallel_run_config", "is required: {'values': {...}, 'parameters': {...}} as "
                                                     "ParallelRunStep(parallel_run_config=ParallelRunConfig(...)) "
                                                     "records it")
        else:
            for field, value in (config.get("values") or {}).items():
                try:
                    check_value(field, value)
                except ConfigError as exc:
                    self.add(f"{where}.parallel_run_config.values[{field!r}]", str(exc))
            for field, param in (config.get("parameters") or {}).items():
                if param not in params:
                    self.add(f"{where}.parallel_run_config.parameters[{field!r}]",
                             f"names parameter {param!r}, which the spec does not declare")
        inputs = _list(step, "inputs")
        batched = step.get("parallel_inputs")
        if not isinstance(batched, list) or not batched or not all(
                isinstance(b, dict) and b.get("data") in inputs and b.get("type") in INPUT_TYPES for b in batched):
            self.add(f"{where}.parallel_inputs", "must be a non-empty list of {'data': one of the step's inputs, "
                                                 "'type': 'file' or 'tabular'}")
        if not all(isinstance(d, str) and d in inputs for d in step.get("side_inputs", []) or []):
            self.add(f"{where}.side_inputs", "must list data ids among the step's inputs")
        if step.get("input_type", "file") not in INPUT_TYPES:
            self.add(f"{where}.input_type", "must be 'file' or 'tabular'")

    def edges(self, steps: list[dict[str, Any]]) -> None:
        edges = self.doc.get("edges", [])
        if not isinstance(edges, list) or not all(
                isinstance(e, dict) and isinstance(e.get("from"), str) and isinstance(e.get("to"), str)
                and _opt_str(e.get("via")) for e in edges):
            self.add("edges", "must be a list of {from: step, to: step, via: data id or null}")
            return
        producers: dict[str, list[str]] = {}
        for step in steps:
            for out in step.get("outputs") or []:
                producers.setdefault(out, []).append(step["name"])
        expected = set()
        for step in steps:
            for inp in step.get("inputs") or []:
                for producer in producers.get(inp, []):
                    if producer != step["name"]:
                        expected.add((producer, step["name"], inp))
            for before in step.get("run_after") or []:
                expected.add((before, step["name"], None))
        given = {(e["from"], e["to"], e.get("via")) for e in edges}
        if given != expected:
            missing = sorted(expected - given, key=str)[:3]
            extra = sorted(given - expected, key=str)[:3]
            self.add("edges", f"do not match the steps' inputs, outputs and run_after (missing {missing}, "
                              f"unexpected {extra}); send the spec exactly as Pipeline.spec().to_json() built it")


def check_spec_document(doc: Any) -> list[str]:
    """Every structural problem of a posted spec; empty when ``PipelineSpec(doc)`` is safe to validate and run."""
    if not isinstance(doc, dict):
        return ["PipelineSpec must be a JSON object (the output of Pipeline.spec().to_json())"]
    checker = _Checker(doc)
    checker.text()
    if checker.problems:
        return checker.problems
    if doc.get("schema") != SCHEMA:
        checker.add("schema", f"must be {SCHEMA!r}, not {doc.get('schema')!r}; build the spec with a matching "
                              "amlite (Pipeline(...).spec().to_json())")
        return checker.problems
    if not isinstance(doc.get("description", ""), (str, type(None))):
        checker.add("description", "must be a string")
    if not isinstance(doc.get("continue_on_step_failure", False), bool):
        checker.add("continue_on_step_failure", "must be true or false")
    params = checker.parameters()
    data = checker.data(params)
    checker.datastores(params, data)
    steps = doc.get("steps")
    if not isinstance(steps, list):
        checker.add("steps", "is required (a list of steps)")
        return checker.problems
    named = [s for i, s in enumerate(steps) if checker.step(i, s, params, data) is not None]
    if not checker.problems:
        checker.edges(named)
    return checker.problems
