"""Structural checks of a ``PipelineSpec``; every message names the step and the argument.

Kept apart from building so ``Pipeline.validate()``, ``amlite validate`` and the
publish endpoint all give the same answers for the same graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline_core.execution.step_settings import check_run_duration
from pipeline_core.spec import PipelineSpec

STEP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,127}$")

# (datastore name, path or None for "the datastore alone") -> None if fine, else the reason it is not
DataCheck = Callable[[str, "str | None"], "str | None"]


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


def validate_spec(spec: PipelineSpec, check_data: DataCheck | None = None) -> list[str]:
    errors = list(spec.problems)
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
    for step in spec.steps:
        for inp in step["inputs"]:
            entry = data.get(inp, {})
            kind = entry.get("kind")
            if kind in ("pipeline_data", "output") and not entry.get("producer"):
                errors.append(
                    f"step {step['name']!r}: input {inp!r} is not produced by any step in the pipeline; "
                    "add the step that writes it (listing it in that step's outputs) or read it from a datastore "
                    "with a DataReference"
                )
            elif kind == "data_reference" and check_data is not None:
                problem = check_data(entry["datastore"], entry.get("path") or "")
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
