"""AutoML: AML's config checks, AML-named metrics, and FLAML training on scikit-learn's datasets."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from pipeline_core.train.automl import AutoMLConfig, ConfigException, DataException
from pipeline_core.train.automl.metrics import classification_metrics, regression_metrics
from pipeline_core.train.automl.names import CLASSIFICATION_METRICS, REGRESSION_METRICS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="module")
def train():  # type: ignore[no-untyped-def]
    """The trainer, imported once (FLAML and the boosting libraries load here, outside any measured time)."""
    import flaml.automl  # noqa: F401

    from pipeline_core.train.automl.trainer import train
    return train


# --- configuration ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "clustering"}, "Invalid task 'clustering'"),
    ({"task": "regression", "primary_metric": "accuracy"}, "Invalid primary_metric 'accuracy' for task 'regression'"),
    ({"task": "classification", "experiment_timeout_hours": 1, "experiment_timeout_minutes": 5},
     "cannot both be set"),
    ({"task": "classification", "n_cross_validations": 3, "validation_data": pd.DataFrame({"y": [1]})},
     "n_cross_validations and validation_data cannot both be set"),
    ({"task": "classification", "n_cross_validations": 1}, "at least 2"),
    ({"task": "classification", "allowed_models": ["LightGBM"], "blocked_models": ["LightGBM"]},
     "both allowed and blocked"),
    ({"task": "classification", "blocked_models": ["LightGBM", "XGBoostClassifier", "RandomForest",
                                                   "ExtremeRandomTrees", "LogisticRegression"]}, "All models are blocked"),
    ({"task": "classification", "allowed_models": ["Prophet"]}, "unknown classification models"),
    ({"task": "classification", "allowed_models": ["DecisionTree"]}, "can be trained here"),
    ({"task": "classification", "training_data": pd.DataFrame({"y": [1]})}, "label_column_name is required"),
    ({"task": "classification", "iterations": 0}, "iterations must be an integer of at least 1"),
])
def test_bad_combinations_are_refused_with_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigException, match=message):
        AutoMLConfig(**kwargs)


def test_defaults_and_model_mapping_follow_aml() -> None:
    config = AutoMLConfig(task="regression", experiment_timeout_hours=0.5, blocked_models=["XGBoostRegressor"])
    settings = config.search_settings()
    assert settings.primary_metric == "spearman_correlation" and settings.time_budget_seconds == 1800
    assert "xgboost" not in settings.estimators and "lgbm" in settings.estimators
    assert AutoMLConfig(task="classification").primary_metric == "accuracy"
    allowed = AutoMLConfig(task="classification", allowed_models=["LightGBM", "DecisionTree", "ExtremeRandomTrees"])
    assert allowed.search_settings().estimators == ("lgbm", "extra_tree")
    assert allowed.as_serializable_dict()["models_not_available"] == ["DecisionTree"]
    recorded = AutoMLConfig(task="classification", compute_target="cpu-cluster", max_concurrent_iterations=4,
                            enable_onnx_compatible_models=True)
    assert recorded.ignored == {"compute_target": "cpu-cluster", "max_concurrent_iterations": 4,
                                "enable_onnx_compatible_models": True}


# --- metrics ----------------------------------------------------------------------------------------------

def test_classification_metrics_use_aml_definitions() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 0, 2, 1])
    proba = np.eye(3)[pred] * 0.8 + 0.2 / 3
    values = classification_metrics(y, pred, proba, [0, 1, 2])
    assert set(values) == set(CLASSIFICATION_METRICS)
    assert values["accuracy"] == pytest.approx(4 / 6)
    # macro recall (1 + 0.5 + 0.5) / 3 = 2/3; chance 1/3 -> (2/3 - 1/3) / (1 - 1/3) = 0.5
    assert values["norm_macro_recall"] == pytest.approx(0.5)
    assert 0.5 < values["AUC_weighted"] <= 1


def test_regression_errors_are_normalised_by_the_label_range() -> None:
    values = regression_metrics([0.0, 10.0, 20.0], [1.0, 11.0, 19.0], y_range=20.0)
    assert set(values) == set(REGRESSION_METRICS)
    assert values["root_mean_squared_error"] == pytest.approx(1.0)
    assert values["normalized_root_mean_squared_error"] == pytest.approx(0.05)
    assert values["normalized_mean_absolute_error"] == pytest.approx(0.05)
    assert values["spearman_correlation"] == pytest.approx(1.0)


# --- training ---------------------------------------------------------------------------------------------

def test_iris_classification_best_model_pickles_and_predicts_labels(train, iris: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    config = AutoMLConfig(task="classification", primary_metric="AUC_weighted", training_data=iris,
                          label_column_name="species", n_cross_validations=3, iterations=6,
                          experiment_timeout_minutes=1, enable_early_stopping=False)
    result = train(config)
    assert len(result.trials) == 6 and result.stop_reason == "iterations"
    assert all(set(t.metrics) == set(CLASSIFICATION_METRICS) for t in result.trials)
    best = max(result.trials, key=lambda t: (t.metrics["AUC_weighted"], -t.iteration))
    assert result.best_iteration == best.iteration and result.best_trial.score == best.metrics["AUC_weighted"]
    assert result.best_trial.algorithm in {"LightGBM", "XGBoostClassifier", "RandomForest", "ExtremeRandomTrees",
                                           "LogisticRegression"}
    model = pickle.loads(pickle.dumps(result.fitted_model))
    predicted = model.predict(iris.drop(columns="species"))
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}
    assert (predicted == iris["species"]).mean() > 0.9
    assert model.predict_proba(iris.drop(columns="species").head(2)).shape == (2, 3)


def test_allowed_models_limit_the_search(train, iris: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    config = AutoMLConfig(task="classification", training_data=iris, label_column_name="species",
                          allowed_models=["ExtremeRandomTrees"], iterations=3, n_cross_validations=2)
    result = train(config)
    assert {t.algorithm for t in result.trials} == {"ExtremeRandomTrees"}
    assert type(result.fitted_model.estimator).__name__ == "ExtraTreesClassifier"


def test_diabetes_regression_minimises_normalised_rmse(train, diabetes: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    from pipeline_core.train.automl import AutoMLRun

    config = AutoMLConfig(task="regression", primary_metric="normalized_root_mean_squared_error",
                          training_data=diabetes, label_column_name="target", n_cross_validations=3, iterations=5,
                          experiment_timeout_minutes=1)
    result = train(config)
    scores = [t.score for t in result.trials]
    assert result.best_trial.score == min(scores) and all(0 < s < 1 for s in scores)
    run = AutoMLRun.from_result(None, "AutoML_x", result)
    best_run, model = run.get_output()
    assert best_run.id == f"AutoML_x_{result.best_iteration}"
    assert best_run.get_metrics()["normalized_root_mean_squared_error"] == result.best_trial.score
    assert len(model.predict(diabetes.drop(columns="target").head(4))) == 4
    document = run.metrics_document()
    assert set(document) == {f"AutoML_x_{t.iteration}" for t in result.trials}
    assert document[best_run.id]["r2_score"] == [result.best_trial.metrics["r2_score"]]
    r2_best = run.get_best_child(metric="r2_score")
    assert r2_best.metrics["r2_score"] == max(t.metrics["r2_score"] for t in result.trials)
    others = [t.iteration for t in result.trials if t.iteration != result.best_iteration]
    if others:
        with pytest.raises(ConfigException, match="only the best model"):
            run.get_output(iteration=others[0])


def test_time_budget_is_honoured_within_ten_percent(train, iris: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """The tree models only: scikit-learn's LogisticRegression can take seconds per trial on a loaded machine and
    cannot be interrupted, which is the one-trial overrun docs/training.md describes, not the budget rule."""
    budget = 6.0
    config = AutoMLConfig(task="classification", training_data=iris, label_column_name="species",
                          n_cross_validations=3, experiment_timeout_minutes=budget / 60, enable_early_stopping=False,
                          allowed_models=["LightGBM", "RandomForest", "ExtremeRandomTrees"])
    started = time.monotonic()
    result = train(config)
    elapsed = time.monotonic() - started
    assert result.stop_reason == "experiment_timeout"
    assert 0.9 * budget <= elapsed <= 1.1 * budget, f"{elapsed:.2f} s for a {budget} s budget"


def test_data_problems_name_the_column(train, iris: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    config = AutoMLConfig(task="classification", training_data=iris, label_column_name="Species", iterations=1)
    with pytest.raises(DataException, match="label_column_name 'Species' is not a column"):
        train(config)
    tiny = pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "a", "a", "b"]})
    with pytest.raises(DataException, match="n_cross_validations=3 needs at least 3 rows of every class"):
        train(AutoMLConfig(task="classification", training_data=tiny, label_column_name="y", n_cross_validations=3))


def test_training_output_names_what_a_training_step_writes() -> None:
    from pipeline_core.pipeline.core import PipelineData, TrainingOutput

    output = TrainingOutput(type="Model", metric="AUC_weighted")
    assert PipelineData("best_model", training_output=output).training_output is output
    with pytest.raises(ValueError, match="'Metrics' or 'Model'"):
        TrainingOutput("Weights")
    with pytest.raises(ValueError, match="iteration or metric, not both"):
        TrainingOutput("Model", iteration=2, metric="accuracy")
