"""Structural checks of a ``PipelineSpec``; every message names the step and the argument.

Kept apart from building so ``Pipeline.validate()``, ``amlite validate`` and the
publish endpoint all give the same answers for the same graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pipeline_core.data.web_files import WEB_DATASTORE, is_web_url
from pipeline_core.engine.step_kinds import find_step_kind, registered_types
from pipeline_core.errors import AmliteError
from pipeline_core.execution.step_settings import check_run_duration
from pipeline_core.pipeline.core.graph import NAME_RE
from pipeline_core.safe_paths import (
    datastore_path_problem,
    plain_name_problem,
    script_name_problem,
    text_problem,
    text_problems,
)
from pipeline_core.spec import PipelineSpec, script_problem
from pipeline_core.spec_types import DataEntry, StepEntry

STEP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,127}$")
#: A snapshot is named by the SHA-256 of its content; nothing else may become its cache folder's name.
SNAPSHOT_RE = re.compile(r"^[0-9a-f]{64}$")
#: Data ids of these kinds are SDK object names (PipelineData, OutputFileDatasetConfig, dataset inputs).
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDENTIFIER_KINDS = ("pipeline_data", "output", "dataset")

# (datastore name, path or None for "the datastore alone") -> None if fine, else the reason it is not
DataCheck = Callable[[str, "str | None"], "str | None"]
# snapshot hash -> the files it holds (raises AmliteError for a snapshot that cannot be read or is hostile)
SnapshotFiles = Callable[[str], Collection[str]]


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """One cycle as a list of step names (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for up in deps.get(node, []):
            if state.get(up) == 1:
                return stack[stack.index(up):] + [up]
            if state.get(up) is None:
                found = visit(up)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for name in deps:
        if state.get(name) is None:
            found = visit(name)
            if found:
                return list(reversed(found))
    return None


class Problem(str):
    """A problem's text and the spec field it is about (``target``, e.g. ``PipelineSpec.steps[0] ('a').script_name``).

    A ``str`` so every caller that joins or prints problems keeps working; the HTTP
    service puts ``target`` in the error's ``details``.
    """

    target: str

    def __new__(cls, text: str, target: str = "") -> Problem:
        problem = super().__new__(cls, text)
        problem.target = f"PipelineSpec.{target}" if target else "PipelineSpec"
        return problem


def _step_where(index: int, step: StepEntry) -> str:
    return f"steps[{index}] ({step.get('name')!r})"


def data_id_problem(data_id: Any, entry: Mapping[str, Any]) -> str | None:
    """Why a data id cannot name a step's input or output (it becomes a folder name and an environment name)."""
    kind = entry.get("kind")
    if kind in IDENTIFIER_KINDS:
        if not isinstance(data_id, str) or not IDENTIFIER_RE.match(data_id):
            return "is invalid: use letters, digits and underscores, starting with a letter or underscore"
        return None
    if kind == "datapath":
        expected = f"datapath:{entry.get('parameter')}"
        return None if data_id == expected else f"must be {expected!r} (the DataPath parameter it binds)"
    return plain_name_problem(data_id)


def _definition_paths(entry: DataEntry) -> list[Any]:
    definition = entry.get("definition")
    paths = definition.get("paths") if isinstance(definition, dict) else None
    return paths if isinstance(paths, list) else []


def data_path_problems(spec: PipelineSpec) -> list[Problem]:
    """Paths on datastores that could turn into climbing blob names: ``..`` segments, NUL, control characters."""
    errors = []
    for data_id, entry in spec.data.items():
        problem = datastore_path_problem(entry.get("path"))
        if problem:
            errors.append(Problem(f"data {data_id!r}: path {entry.get('path')!r} {problem}; use a plain path on the "
                                  "datastore", f"data[{data_id!r}].path"))
        for index, path in enumerate(_definition_paths(entry)):
            problem = datastore_path_problem(path.get("path")) if isinstance(path, dict) else None
            if isinstance(path, dict) and path.get("datastore") == WEB_DATASTORE and not is_web_url(path.get("path")):
                problem = "is not an http(s) URL (the '@web' datastore holds only those)"
            if problem:
                errors.append(Problem(f"dataset input {data_id!r}: paths[{index}] {path.get('path')!r} {problem}",
                                      f"data[{data_id!r}].definition.paths[{index}].path"))
    for name, param in spec.parameters.items():
        default = param.get("default")
        if param.get("type") == "datapath" and isinstance(default, dict):
            problem = datastore_path_problem(default.get("path"))
            if problem:
                errors.append(Problem(f"PipelineParameter {name!r} default DataPath path {default.get('path')!r} "
                                      f"{problem}", f"parameters[{name!r}].default.path"))
    return errors


def step_problems(step: StepEntry, data: dict[str, DataEntry], where: str = "") -> list[Problem]:
    """What makes one step unsafe to run whatever the graph: its type, script_name and data ids."""
    name = step.get("name")
    where = where or f"steps ({name!r})"
    errors = []
    kind = find_step_kind(step.get("type"))  # the registry of step kinds (engine/step_kinds.py)
    if kind is None:
        errors.append(Problem(f"step {name!r}: type {step.get('type')!r} cannot run here; use one of "
                              f"{', '.join(registered_types())}", f"{where}.type"))
    for field, wrong in kind.spec_problems(step) if kind is not None else ():  # the kind's own checks
        errors.append(Problem(f"{step.get('type')} {name!r}: {field} {wrong}", f"{where}.{field}"))
    problem = script_name_problem(step.get("script_name")) \
        if kind is None or kind.script or "script_name" in step else None
    if problem:
        errors.append(Problem(f"step {name!r}: script_name {step.get('script_name')!r} {problem}",
                              f"{where}.script_name"))
    for key, data_ids in (("inputs", step.get("inputs")), ("outputs", step.get("outputs"))):
        for data_id in data_ids or []:
            problem = data_id_problem(data_id, data.get(data_id) or {})
            if problem:
                errors.append(Problem(f"step {name!r}: {key[:-1]} {data_id!r} {problem}", f"{where}.{key}"))
    for key in step.get("params") or {}:
        if not isinstance(key, str) or not key or "=" in key or text_problem(key) or any(ord(c) < 32 for c in key):
            errors.append(Problem(f"step {name!r}: params name {key!r} cannot name an environment variable "
                                  "(AML_PARAMETER_<name>); use letters, digits and underscores", f"{where}.params"))
    if step.get("type") == "ParallelRunStep" and not (
            isinstance(step.get("parallel_run_config"), dict) and step.get("parallel_inputs")):
        errors.append(Problem(f"ParallelRunStep {name!r} has no parallel_run_config or no parallel_inputs; build it "
                              "with ParallelRunStep(parallel_run_config=ParallelRunConfig(...), inputs=[...])",
                              f"{where}.parallel_run_config"))
    elif step.get("type") == "ParallelRunStep":
        values = step["parallel_run_config"].get("values")
        file_name = values.get("append_row_file_name") if isinstance(values, dict) else None
        if file_name is not None and (problem := plain_name_problem(file_name)):
            errors.append(Problem(f"ParallelRunStep {name!r}: append_row_file_name {file_name!r} {problem}; name a "
                                  "file, not a path", f"{where}.parallel_run_config.values.append_row_file_name"))
    return errors


def run_time_problems(spec: PipelineSpec, step: StepEntry, parameters: dict[str, Any]) -> list[str]:
    """The executor's own check before it runs a step (defence in depth: the spec was checked at submit too)."""
    errors = []
    if not isinstance(step.get("name"), str) or not STEP_NAME_RE.match(step["name"]):
        errors.append(f"step name {step.get('name')!r} is invalid")
    errors.extend(step_problems(step, spec.data))
    kind = find_step_kind(step.get("type"))
    if (kind is None or kind.script or "snapshot" in step) and \
            (not isinstance(step.get("snapshot"), str) or not SNAPSHOT_RE.match(step["snapshot"])):
        errors.append(f"step {step.get('name')!r}: snapshot {step.get('snapshot')!r} is not a snapshot hash")
    for data_id in [*(step.get("inputs") or []), *(step.get("outputs") or [])]:
        path = entry.get("path") if (entry := spec.data.get(data_id)) else None
        problem = datastore_path_problem(path)
        if problem:
            errors.append(f"data {data_id!r}: path {path!r} {problem}")
    for name, value in parameters.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(f"pipeline parameter name {name!r} is invalid")
        if isinstance(value, dict):  # a DataPath: its path becomes blob names, then local paths
            if problem := datastore_path_problem(value.get("path")):
                errors.append(f"pipeline parameter {name!r}: DataPath path {value.get('path')!r} {problem}")
            value = f"{value.get('datastore')}/{value.get('path') or ''}"
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            errors.append(f"pipeline parameter {name!r} {problem}")
    return errors


def validate_spec(spec: PipelineSpec, check_data: DataCheck | None = None,
                  snapshot_files: SnapshotFiles | None = None) -> list[str]:
    """Every problem of a built (or posted and shape-checked) spec; the SDK and the service ask the same questions.

    ``check_data`` asks the workspace about datastores and paths; ``snapshot_files``
    lists an uploaded snapshot, so ``script_name`` is checked against what will run
    (the SDK checked it against ``source_directory`` when it built the spec).
    """
    errors = list(spec.problems)
    found: list[tuple[str, str]] = []
    text_problems({k: v for k, v in spec.doc.items() if k != "local"}, "", found)
    errors.extend(Problem(f"the spec's {where.lstrip('.')} {problem}", where.lstrip(".")) for where, problem in found)
    names = spec.step_names
    if not names:
        errors.append("the pipeline has no steps; pass steps=[...] to Pipeline(...)")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            errors.append(f"step name {name!r} is used by more than one step; step names must be unique")
        seen.add(name)
        if not STEP_NAME_RE.match(name):
            errors.append(
                f"step name {name!r} is invalid: use 1-128 letters, digits, spaces, '.', '_' or '-', "
                "starting with a letter or digit"
            )
    for step in spec.steps:
        for before in step["run_after"]:
            if before not in seen:
                errors.append(
                    f"step {step['name']!r}: run_after names step {before!r}, which is not in the pipeline; "
                    "add it to the pipeline's steps"
                )
    if len(seen) == len(names):
        cycle = find_cycle(spec.dependencies())
        if cycle:
            errors.append("the pipeline has a cycle: " + " -> ".join(repr(n) for n in cycle)
                          + "; a step cannot depend on its own output")
    data = spec.data
    errors.extend(data_path_problems(spec))
    for index, step in enumerate(spec.steps):
        errors.extend(step_problems(step, data, _step_where(index, step)))
        errors.extend(_snapshot_problems(step, snapshot_files, _step_where(index, step)))
    for data_id, entry in data.items():
        if check_data is None:
            break
        stores = [entry.get("datastore")] if entry.get("kind") in ("pipeline_data", "output") else []
        stores += [p.get("datastore") for p in _definition_paths(entry) if isinstance(p, dict)]
        for store in dict.fromkeys(s for s in stores if s and s != WEB_DATASTORE):
            problem = check_data(store, None)
            if problem:
                what = "output" if entry.get("kind") in ("pipeline_data", "output") else "dataset input"
                errors.append(Problem(f"{what} {data_id!r}: datastore {store!r}: {problem}",
                                      f"data[{data_id!r}].datastore"))
    for step in spec.steps:
        for inp in step["inputs"]:
            entry = data.get(inp) or DataEntry(kind="")
            kind = entry.get("kind")
            if kind in ("pipeline_data", "output") and not entry.get("producer"):
                errors.append(
                    f"step {step['name']!r}: input {inp!r} is not produced by any step in the pipeline; "
                    "add the step that writes it (listing it in that step's outputs) or read it from a datastore "
                    "with a DataReference"
                )
            elif kind == "data_reference" and check_data is not None:
                problem = check_data(entry.get("datastore") or "", entry.get("path") or "")
                if problem:
                    errors.append(f"step {step['name']!r}: input {inp!r}: {problem}")
    for step in spec.steps:
        try:  # a spec posted over REST may carry anything here
            check_run_duration(step.get("max_run_duration_seconds"),
                               f"step {step['name']!r}: max_run_duration_seconds")
        except ValueError as exc:
            errors.append(str(exc))
    for name, param in spec.parameters.items():
        if param["type"] == "datapath" and check_data is not None:
            default = param["default"]
            problem = check_data(default["datastore"], None)
            if problem:
                errors.append(f"PipelineParameter {name!r} default DataPath: {problem}")
    return errors


def _snapshot_problems(step: StepEntry, snapshot_files: SnapshotFiles | None, where: str) -> list[Problem]:
    if snapshot_files is None or not step.get("snapshot") or script_name_problem(step.get("script_name")):
        return []
    try:
        problem = script_problem(step["script_name"], snapshot_files(step["snapshot"]))
    except AmliteError as exc:
        return [Problem(f"step {step['name']!r}: {exc}", f"{where}.snapshot")]
    if problem:
        return [Problem(f"step {step['name']!r}: script_name {step['script_name']!r} {problem}",
                        f"{where}.script_name")]
    return []
