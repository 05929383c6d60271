"""The step-kind registry: what it answers the spec checks and the orchestrator, and how it refuses mistakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_core import PipelineData, PythonScriptStep
from pipeline_core.application.spec_check import check_spec_document
from pipeline_core.engine.run_tracker import RunTracker
from pipeline_core.engine.step_kinds import (
    Orchestration,
    StepKind,
    UnknownStepKind,
    orchestrators_for,
    register_step_kind,
    registered_types,
    step_kind,
    unregister_step_kind,
)
from pipeline_core.pipeline.steps import ParallelRunStep
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken
from pipeline_core.spec import build_spec
from pipeline_core.validation import validate_spec


class TouchStep(PipelineStep):
    """A kind with no script: its spec entry is its own field."""

    step_type = "TouchStep"

    def __init__(self, name: str, output: PipelineData, label: str):
        super().__init__(name, outputs=[output])
        self.label = label

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        return {"label": self.label}


def _touch(ctx: Any) -> dict[str, Any]:
    return dict(ctx.finish())


@pytest.fixture
def touch_kind() -> Iterator[StepKind]:
    kind = register_step_kind(StepKind(type="TouchStep", sdk_class=f"{__name__}:TouchStep", executor=_touch,
                                       script=False))
    try:
        yield kind
    finally:
        unregister_step_kind("TouchStep")


def test_the_built_in_kinds_are_registered_with_their_classes_and_orchestrations() -> None:
    assert {"PythonScriptStep", "ParallelRunStep"} <= set(registered_types())
    script, parallel = step_kind("PythonScriptStep"), step_kind("ParallelRunStep")
    assert script.sdk_class_object() is PythonScriptStep and script.orchestration is Orchestration.ACTIVITY
    assert parallel.sdk_class_object() is ParallelRunStep
    assert parallel.orchestration is Orchestration.SUB_ORCHESTRATION and parallel.orchestrator == "parallel_step"


def test_an_unknown_type_names_the_types_that_run_and_the_fix() -> None:
    with pytest.raises(UnknownStepKind, match=r"'KustoStep' cannot run here; use one of PythonScriptStep, "
                                              r"ParallelRunStep.*must be imported"):
        step_kind("KustoStep")


def test_registration_mistakes_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_step_kind(StepKind(type="PythonScriptStep", sdk_class="x:Y", executor=_touch))
    with pytest.raises(ValueError, match="needs an executor"):
        StepKind(type="X", sdk_class="x:X")
    with pytest.raises(ValueError, match="needs its orchestrator's name"):
        StepKind(type="X", sdk_class="x:X", orchestration=Orchestration.SUB_ORCHESTRATION)
    with pytest.raises(ValueError, match="is polled and needs its poller"):
        StepKind(type="X", sdk_class="x:X", orchestration=Orchestration.POLL)
    assert StepKind(type="X", sdk_class="x:X", orchestration=Orchestration.POLL, poller="x:y").orchestrator == "poll_step"
    # the same registration again is harmless (a module imported twice)
    assert register_step_kind(step_kind("PythonScriptStep")) is step_kind("PythonScriptStep")


def test_a_registered_kind_without_a_script_passes_the_sdk_and_rest_checks(touch_kind: StepKind,
                                                                            tmp_path: Path) -> None:
    (tmp_path / "read.py").write_text("print('hi')\n")
    data = PipelineData("touched")
    spec = build_spec([TouchStep("touch", data, "x"),
                       PythonScriptStep("read.py", name="read", arguments=[data], inputs=[data],
                                        source_directory=str(tmp_path))])
    step = spec.step("touch")
    assert step["type"] == "TouchStep" and step["label"] == "x" and "script_name" not in step
    assert validate_spec(spec) == []
    assert check_spec_document(spec.doc) == []
    assert orchestrators_for(spec.steps) == {}


def test_without_its_registration_the_same_spec_is_refused(tmp_path: Path) -> None:
    spec = build_spec([TouchStep("touch", PipelineData("touched"), "x")])
    problems = [str(p) for p in validate_spec(spec)]
    assert any("type 'TouchStep' cannot run here" in p for p in problems), problems


def test_the_tracker_reads_orchestrations_old_and_new() -> None:
    new = RunTracker.from_start("r", {"deps": {"a": [], "b": []}, "orchestrators": {"a": "parallel_step"}})
    old = RunTracker.from_start("r", {"deps": {"a": [], "b": []}, "parallel": ["a"]})
    for tracker in (new, old):
        assert tracker.orchestrator_of("a") == "parallel_step" and tracker.orchestrator_of("b") is None


def test_a_kinds_own_check_refuses_its_spec_entry_with_the_field(tmp_path: Path) -> None:
    def check(step: dict[str, Any]) -> list[tuple[str, str]]:
        label = step.get("label")
        return [] if isinstance(label, str) and label else [("label", "must be a non-empty string")]

    register_step_kind(StepKind(type="TouchStep", sdk_class=f"{__name__}:TouchStep", executor=_touch,
                                script=False, check=check))
    try:
        assert validate_spec(build_spec([TouchStep("fine", PipelineData("a"), "x")])) == []
        (problem,) = validate_spec(build_spec([TouchStep("empty", PipelineData("b"), "")]))
        assert problem == "TouchStep 'empty': label must be a non-empty string"
        assert problem.target.endswith("('empty').label")  # type: ignore[attr-defined]
    finally:
        unregister_step_kind("TouchStep")


def test_a_kind_cannot_take_a_built_in_type() -> None:
    with pytest.raises(ValueError, match="'ParallelRunStep' is already registered"):
        register_step_kind(StepKind(type="ParallelRunStep", sdk_class="x:Y", executor=_touch))
    assert step_kind("ParallelRunStep").orchestrator == "parallel_step"
