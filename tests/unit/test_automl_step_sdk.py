"""AutoMLStep's SDK checks and its spec entry's checks: mistakes a user makes are named with the fix."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from pipeline_core.data.tabular_dataset import TabularDataset
from pipeline_core.engine.automl_step import spec_problems
from pipeline_core.engine.step_kinds import step_kind
from pipeline_core.pipeline.core import PipelineData, TrainingOutput
from pipeline_core.pipeline.steps import AutoMLStep
from pipeline_core.train.automl import AutoMLConfig

FRAME = pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]})


def _dataset() -> TabularDataset:
    return TabularDataset({"type": "tabular", "paths": [{"datastore": "workspaceblobstore", "path": "d/x.csv"}],
                           "format": {"kind": "delimited", "separator": ",", "header": True}})


def _config(**kwargs: Any) -> AutoMLConfig:
    args: dict[str, Any] = dict(task="classification", training_data=_dataset(), label_column_name="y",
                                experiment_timeout_minutes=0.5)
    args.update(kwargs)
    return AutoMLConfig(**args)


def test_a_dataframe_as_training_data_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"training_data must be a TabularDataset .* it is DataFrame"):
        AutoMLStep("automl", _config(training_data=FRAME))
    with pytest.raises(ValueError, match="it is X and y arrays"):
        AutoMLStep("automl", _config(training_data=None, label_column_name=None, X=FRAME[["x"]], y=FRAME["y"]))


def test_outputs_must_carry_a_training_output() -> None:
    with pytest.raises(ValueError, match=r"outputs\[0\] must be a PipelineData with training_output="):
        AutoMLStep("automl", _config(), outputs=[PipelineData("plain")])


def test_default_outputs_follow_aml_names_unless_declared() -> None:
    step = AutoMLStep("automl-1", _config())
    assert sorted(o.name for o in step._outputs) == ["default_metrics_automl_1", "default_model_automl_1"]
    model = PipelineData("best", training_output=TrainingOutput("Model"))
    step = AutoMLStep("automl", _config(), outputs=[model], enable_default_metrics_output=False)
    assert step._outputs == [model]


def test_spec_entry_holds_the_config_as_json_and_the_training_input() -> None:
    step = AutoMLStep("automl", _config(primary_metric="AUC_weighted", n_cross_validations=3))
    tokens: list[tuple[Any, str]] = []

    def token(value: Any, where: str) -> dict[str, str]:
        tokens.append((value, where))
        return {"data": "training_data" if where.startswith("automl") else value.name}

    fields = step.spec_fields(token)
    settings = json.loads(json.dumps(fields["automl"]["settings"]))
    assert settings["primary_metric"] == "AUC_weighted" and settings["n_cross_validations"] == 3
    assert "training_data" not in settings and fields["automl"]["training_data"] == {"data": "training_data"}
    assert step._inputs[0] is tokens[0][0]  # the dataset is the step's input, read as "training_data"
    assert fields["training_outputs"]["default_model_automl"]["type"] == "Model"
    assert step_kind("AutoMLStep").reuse_fields == ("automl", "training_outputs")


def test_posted_spec_entries_are_checked() -> None:
    good = {"inputs": ["train"], "outputs": ["m"], "automl": {"settings": {}, "training_data": {"data": "train"}},
            "training_outputs": {"m": {"type": "Model"}}}
    assert spec_problems(good) == []
    assert spec_problems({**good, "automl": "x"})[0][0] == "automl"
    assert spec_problems({**good, "inputs": []})[0][0] == "automl.training_data"
    assert spec_problems({**good, "training_outputs": {"m": {"type": "Weights"}}})[0][0] == "training_outputs"
    assert spec_problems({**good, "outputs": []})[0][0] == "training_outputs"
    assert spec_problems({**good, "outputs": 5, "inputs": "train"})  # a posted entry may hold anything


def test_time_spent_before_training_comes_out_of_the_budget() -> None:
    """An AutoMLStep's clock starts with the step: what its process spent starting counts (elapsed_before)."""
    import time

    from sklearn.datasets import load_iris

    from pipeline_core.train.automl.exceptions import AutoMLTrainingException
    from pipeline_core.train.automl.trainer import train

    iris = load_iris(as_frame=True).frame
    config = AutoMLConfig(task="classification", training_data=iris, label_column_name="target",
                          n_cross_validations=3, experiment_timeout_minutes=0.1, enable_early_stopping=False,
                          allowed_models=["LightGBM"])
    with pytest.raises(AutoMLTrainingException, match=r"experiment timeout \(6 s\) ran out before training began"):
        train(config, elapsed_before=6.5)
    started = time.monotonic()
    result = train(config, elapsed_before=3.0)
    took = time.monotonic() - started
    assert took < 5.0 and result.stop_reason == "experiment_timeout"  # 3 s were left of the 6 s, not 6
    assert abs(result.elapsed_seconds - (took + 3.0)) < 0.5  # reported as the experiment's time
