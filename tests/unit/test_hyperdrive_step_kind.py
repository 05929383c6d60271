"""HyperDriveStep's spec entry and its plan: the config survives the spec, the plan decides as ``decide`` does."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pipeline_core.application.spec_check import check_spec_document
from pipeline_core.core import ScriptRunConfig
from pipeline_core.engine.child_runs import ChildRun, ChildRunsLoop
from pipeline_core.engine.step_kinds import Orchestration, StepKind, orchestrators_for, step_kind
from pipeline_core.pipeline.core import PipelineData, TrainingOutput
from pipeline_core.pipeline.steps import HyperDriveStep
from pipeline_core.spec import build_spec
from pipeline_core.train.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    MedianStoppingPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TruncationSelectionPolicy,
    choice,
    loguniform,
    quniform,
    uniform,
)
from pipeline_core.train.hyperdrive.step_kind import PLAN, check_spec, config_from_spec
from pipeline_core.validation import validate_spec

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _config(sampling: Any = None, policy: Any = None, **limits: Any) -> HyperDriveConfig:
    return HyperDriveConfig(run_config=ScriptRunConfig(source_directory=".", script="train.py"),
                            hyperparameter_sampling=sampling or RandomParameterSampling(
                                {"--lr": loguniform(-6, -1), "--batch": choice(16, 32)}, properties={"rndseed": 7}),
                            policy=policy, primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                            **({"max_total_runs": 4} | limits))


@pytest.mark.parametrize("config", [
    _config(policy=BanditPolicy(slack_factor=0.2, evaluation_interval=2, delay_evaluation=1)),
    _config(policy=BanditPolicy(slack_amount=0.05)),
    _config(policy=MedianStoppingPolicy(evaluation_interval=3)),
    _config(policy=TruncationSelectionPolicy(truncation_percentage=30, exclude_finished_jobs=True)),
    _config(GridParameterSampling({"--a": choice(1, 2), "--b": choice("x", "y")}), max_total_runs=None),
    _config(BayesianParameterSampling({"--a": uniform(0, 1), "--b": quniform(1, 10, 1), "--c": choice(1, 2)}),
            max_concurrent_runs=2, max_duration_minutes=30),
], ids=["bandit-factor", "bandit-amount", "median", "truncation", "grid", "bayesian"])
def test_the_config_survives_the_spec(config: HyperDriveConfig) -> None:
    again = config_from_spec(copy.deepcopy(config.to_aml()), "tune")
    assert again.to_aml() == config.to_aml()
    assert type(again.policy) is type(config.policy)
    assert again.hyperparameter_sampling.seed == config.hyperparameter_sampling.seed


def test_the_kind_runs_as_child_runs_of_the_generic_orchestrator(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print(1)\n")
    config = HyperDriveConfig(run_config=ScriptRunConfig(source_directory=str(tmp_path), script="train.py",
                                                         arguments=["--epochs", 2]),
                              hyperparameter_sampling=GridParameterSampling({"--a": choice(1, 2)}),
                              primary_metric_name="acc", primary_metric_goal="maximize")
    metrics = PipelineData("metrics_data", training_output=TrainingOutput("Metrics"))
    model = PipelineData("model", training_output=TrainingOutput("Model", model_file="outputs/m.pkl"))
    spec = build_spec([HyperDriveStep("tune", config, outputs=[model], metrics_output=metrics)])
    entry = spec.step("tune")
    assert entry["type"] == "HyperDriveStep" and entry["script_name"] == "train.py" and entry["snapshot"]
    assert entry["hyperdrive"]["max_total_jobs"] == 2  # a grid's size
    assert {v["type"] for v in entry["training_outputs"].values()} == {"Metrics", "Model"}
    assert validate_spec(spec) == [] and check_spec_document(spec.doc) == []
    assert orchestrators_for(spec.steps) == {"tune": "child_runs_step"}
    kind = step_kind("HyperDriveStep")
    assert kind.orchestration is Orchestration.CHILD_RUNS and kind.orchestrator == "child_runs_step"


def test_a_posted_entry_with_broken_settings_is_refused_by_field() -> None:
    assert check_spec({"name": "tune"})[0][0] == "hyperdrive"
    broken = _config().to_aml() | {"generator_config": {"name": "SOBOL", "parameter_space": {}}}
    assert "SOBOL" in check_spec({"name": "tune", "hyperdrive": broken})[0][1]


def test_a_child_runs_kind_needs_its_plan() -> None:
    with pytest.raises(ValueError, match="needs children"):
        StepKind(type="X", sdk_class="x:X", orchestration=Orchestration.CHILD_RUNS)
    kind = StepKind(type="X", sdk_class="x:X", orchestration=Orchestration.CHILD_RUNS, children="x:PLAN")
    assert kind.orchestrator == "child_runs_step"


def test_hyperdrive_step_refuses_anything_but_a_config() -> None:
    with pytest.raises(ValueError, match="hyperdrive_config must be a HyperDriveConfig"):
        HyperDriveStep("tune", hyperdrive_config={"max_total_runs": 3})  # type: ignore[arg-type]


class _Ctx:
    def __init__(self, config: HyperDriveConfig):
        self.name = "tune"
        self.step = {"hyperdrive": config.to_aml()}


def _child(i: int, status: str, values: list[float]) -> ChildRun:
    return ChildRun(name=f"tune_HD_{i}", index=i, status=status, parameters={"--a": i}, metrics={"acc": values})


def test_the_plan_stops_a_poor_running_trial_and_keeps_the_slot_filled() -> None:
    config = _config(RandomParameterSampling({"--a": uniform(0, 1)}), BanditPolicy(slack_factor=0.1),
                     max_total_runs=5, max_concurrent_runs=2)
    moves = PLAN.next_moves(_Ctx(config), [_child(0, "Finished", [0.9]), _child(1, "Running", [0.2]),
                                           _child(2, "Running", [0.88])], 10.0)  # type: ignore[arg-type]
    assert [name for name, _ in moves.cancel] == ["tune_HD_1"]
    assert len(moves.start) == 1 and not moves.finished and moves.wait_seconds == 2.0


def test_the_plan_cancels_what_runs_at_max_duration() -> None:
    config = _config(max_duration_minutes=1, max_concurrent_runs=2)
    moves = PLAN.next_moves(_Ctx(config), [_child(0, "Running", [0.5])], 61.0)  # type: ignore[arg-type]
    assert [name for name, _ in moves.cancel] == ["tune_HD_0"] and moves.start == []
    assert moves.reason == "max_duration_minutes reached"


def test_the_orchestrator_loop_waits_only_while_children_run() -> None:
    loop = ChildRunsLoop()
    assert loop.done({"start": [], "finished": True})
    loop.started(["a"])
    assert not loop.done({"start": [], "finished": False}) and loop.timer_seconds({"wait_seconds": 2}) == 2.0
    loop.ended("a")
    assert loop.timer_seconds({"wait_seconds": 2}) is None and loop.done({"start": [], "finished": True})


def test_a_long_search_looks_less_often() -> None:
    config = _config(policy=BanditPolicy(slack_factor=0.1), max_concurrent_runs=1)
    running = [_child(0, "Running", [0.5])]
    assert PLAN.next_moves(_Ctx(config), running, 30.0).wait_seconds == 2.0  # type: ignore[arg-type]
    assert PLAN.next_moves(_Ctx(config), running, 3600.0).wait_seconds == 60.0  # type: ignore[arg-type]
