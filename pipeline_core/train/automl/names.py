"""AML v1's AutoML vocabulary (tasks, metrics, model names) and what each maps to in FLAML.

The tables are the single place the mapping lives: the config checks against them, the trainer
translates through them, and docs/training.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass


class Tasks:
    """AML's task names (``azureml.automl.core.shared.constants.Tasks``)."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    FORECASTING = "forecasting"


TASKS = (Tasks.CLASSIFICATION, Tasks.REGRESSION, Tasks.FORECASTING)
#: FLAML's task for each AML task; forecasting is accepted by the config but not trained (see trainer).
FLAML_TASKS = {Tasks.CLASSIFICATION: "classification", Tasks.REGRESSION: "regression", Tasks.FORECASTING: "ts_forecast"}


@dataclass(frozen=True)
class MetricInfo:
    name: str
    maximize: bool


def _metrics(maximize: dict[str, bool]) -> dict[str, MetricInfo]:
    return {name: MetricInfo(name, up) for name, up in maximize.items()}


#: Every metric a classification trial reports (AML's names), and whether higher is better.
CLASSIFICATION_METRICS = _metrics({
    "accuracy": True, "AUC_weighted": True, "AUC_macro": True, "AUC_micro": True,
    "average_precision_score_weighted": True, "average_precision_score_macro": True,
    "precision_score_weighted": True, "precision_score_macro": True,
    "recall_score_weighted": True, "recall_score_macro": True,
    "f1_score_weighted": True, "f1_score_macro": True,
    "norm_macro_recall": True, "balanced_accuracy": True, "matthews_correlation": True, "log_loss": False,
})
#: Every metric a regression (or forecasting) trial reports; ``normalized_*`` divide by the label range.
REGRESSION_METRICS = _metrics({
    "r2_score": True, "spearman_correlation": True, "explained_variance": True,
    "root_mean_squared_error": False, "normalized_root_mean_squared_error": False,
    "mean_absolute_error": False, "normalized_mean_absolute_error": False,
    "median_absolute_error": False, "normalized_median_absolute_error": False,
})
METRICS = {Tasks.CLASSIFICATION: CLASSIFICATION_METRICS, Tasks.REGRESSION: REGRESSION_METRICS,
           Tasks.FORECASTING: REGRESSION_METRICS}

#: The metrics AML lets a task optimise (its ``primary_metric`` choices), the first being AML's default.
PRIMARY_METRICS = {
    Tasks.CLASSIFICATION: ("accuracy", "AUC_weighted", "norm_macro_recall", "average_precision_score_weighted",
                           "precision_score_weighted"),
    Tasks.REGRESSION: ("spearman_correlation", "normalized_root_mean_squared_error", "r2_score",
                       "normalized_mean_absolute_error"),
    Tasks.FORECASTING: ("normalized_root_mean_squared_error", "r2_score", "normalized_mean_absolute_error",
                        "spearman_correlation"),
}

#: AML model name -> FLAML estimator, per task. AML names absent here are known but not trainable here.
CLASSIFICATION_MODELS = {
    "LightGBM": "lgbm", "XGBoostClassifier": "xgboost", "RandomForest": "rf", "ExtremeRandomTrees": "extra_tree",
    "LogisticRegression": "lrl2", "GradientBoosting": "histgb", "KNN": "kneighbor", "SGD": "sgd",
    "LinearSVM": "svc",
}
REGRESSION_MODELS = {
    "LightGBM": "lgbm", "XGBoostRegressor": "xgboost", "RandomForest": "rf", "ExtremeRandomTrees": "extra_tree",
    "ElasticNet": "enet", "LassoLars": "lassolars", "GradientBoosting": "histgb", "KNN": "kneighbor", "SGD": "sgd",
}
MODELS = {Tasks.CLASSIFICATION: CLASSIFICATION_MODELS, Tasks.REGRESSION: REGRESSION_MODELS,
          Tasks.FORECASTING: REGRESSION_MODELS}
#: AML model names that exist in AML but have no equivalent here: accepted in blocked_models, and in
#: allowed_models dropped with a warning (an allowed list of only these is an error).
UNSUPPORTED_MODELS = {
    Tasks.CLASSIFICATION: ("DecisionTree", "BernoulliNaiveBayes", "MultinomialNaiveBayes", "SVM",
                           "AveragedPerceptronClassifier", "LinearSVM_ONNX", "TabnetClassifier"),
    Tasks.REGRESSION: ("DecisionTree", "FastLinearRegressor", "OnlineGradientDescentRegressor", "TabnetRegressor"),
    Tasks.FORECASTING: ("DecisionTree", "FastLinearRegressor", "OnlineGradientDescentRegressor", "TabnetRegressor",
                        "AutoArima", "Prophet", "Naive", "SeasonalNaive", "Average", "SeasonalAverage",
                        "ExponentialSmoothing", "Arimax", "TCNForecaster"),
}
#: What runs when allowed_models is unset: the boosted and bagged trees plus the task's linear model.
DEFAULT_MODELS = {
    Tasks.CLASSIFICATION: ("LightGBM", "XGBoostClassifier", "RandomForest", "ExtremeRandomTrees",
                           "LogisticRegression"),
    Tasks.REGRESSION: ("LightGBM", "XGBoostRegressor", "RandomForest", "ExtremeRandomTrees", "ElasticNet"),
    Tasks.FORECASTING: ("LightGBM", "XGBoostRegressor", "RandomForest", "ExtremeRandomTrees", "ElasticNet"),
}


def aml_model_name(task: str, estimator: str) -> str:
    """The AML name a FLAML estimator's trials are reported under."""
    for aml, flaml in MODELS[task].items():
        if flaml == estimator:
            return aml
    return estimator
