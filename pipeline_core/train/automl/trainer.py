"""Train an AutoMLConfig on a DataFrame with FLAML: the trials, the best one, its fitted model.

Why FLAML: it is Microsoft Research's AutoML library, so its search (cost-frugal optimisation over
LightGBM, XGBoost, random forests, extra trees and linear models, with its own featurisation of
categorical and text columns) is the closest open-source relative of AML's own; it runs in-process
on a CPU with no server or cluster, honours a wall-clock budget, takes a custom metric (so every
trial reports AML's metric names, computed the way AML defines them), and its models are plain
scikit-learn-compatible estimators that pickle. auto-sklearn needs SMAC and a Linux-only build and
is barely maintained; TPOT's genetic search is slow for small budgets; H2O needs a Java server;
AutoGluon is a much heavier install (deep-learning stack) than a Functions app should carry.

The budget: AML's experiment timeout is the whole experiment. The clock starts when ``train`` is
called; the search gets the time left minus a reserve for the final refit of the best model on all
the data (FLAML refits after its search), so the call returns close to, and not much past, the
budget. It returns earlier when ``iterations`` is reached or early stopping sees no improvement.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline_core.train.automl.config import AutoMLConfig, SearchSettings
from pipeline_core.train.automl.exceptions import AutoMLTrainingException, ConfigException, DataException
from pipeline_core.train.automl.metrics import classification_metrics, regression_metrics
from pipeline_core.train.automl.model import AutoMLFittedModel
from pipeline_core.train.automl.names import FLAML_TASKS, METRICS, Tasks, aml_model_name

#: The share of the budget kept back for FLAML's final refit of the best model on all the data (measured:
#: with 5 % a 6 s budget on iris ends at 5.6-5.8 s).
REFIT_RESERVE = 0.05
#: AML's automatic validation: cross-validation below this many rows, a holdout split above it.
CV_ROW_LIMIT = 20_000
#: The worst loss, for a trial whose primary metric cannot be computed.
WORST_LOSS = 1e10


@dataclass(frozen=True)
class Trial:
    """One AutoML iteration (an AML child run): the algorithm, its hyperparameters, its AML metrics."""

    iteration: int
    algorithm: str
    estimator: str
    hyperparameters: Mapping[str, Any]
    metrics: Mapping[str, float]
    score: float
    duration_seconds: float
    loss: float = math.inf
    sample_size: int | None = None


@dataclass
class AutoMLResult:
    """What a training produced; ``best_iteration`` indexes ``trials``."""

    task: str
    primary_metric: str
    trials: list[Trial]
    best_iteration: int
    fitted_model: AutoMLFittedModel
    elapsed_seconds: float
    time_budget_seconds: float
    stop_reason: str
    validation: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def best_trial(self) -> Trial:
        return next(t for t in self.trials if t.iteration == self.best_iteration)

    @property
    def maximize(self) -> bool:
        return METRICS[self.task][self.primary_metric].maximize


def training_frame(data: Any, what: str) -> pd.DataFrame:
    """A DataFrame from what AML accepts as data: a DataFrame or a TabularDataset."""
    if isinstance(data, pd.DataFrame):
        return data
    to_pandas = getattr(data, "to_pandas_dataframe", None)
    if callable(to_pandas):
        return to_pandas()
    raise DataException(f"{what} must be a pandas DataFrame or a TabularDataset, got {type(data).__name__}")


def _split(frame: pd.DataFrame, label: str, weight: str | None, exclude_nan_labels: bool,
           what: str) -> tuple[pd.DataFrame, pd.Series, pd.Series | None]:
    if label not in frame.columns:
        raise DataException(f"label_column_name {label!r} is not a column of the {what}; its columns are "
                            f"{list(frame.columns)}")
    if weight is not None and weight not in frame.columns:
        raise DataException(f"weight_column_name {weight!r} is not a column of the {what}")
    if exclude_nan_labels:
        frame = frame[frame[label].notna()]
    X = frame.drop(columns=[c for c in (label, weight) if c])
    return X, frame[label], (frame[weight] if weight else None)


def _data(config: AutoMLConfig, training_data: Any, validation_data: Any) -> tuple[Any, ...]:
    weight = config.weight_column_name
    if training_data is None and config.X is not None:
        X = pd.DataFrame(config.X) if not isinstance(config.X, pd.DataFrame) else config.X
        y = pd.Series(np.asarray(config.y).ravel(), index=X.index)
        w = None if config.sample_weight is None else pd.Series(np.asarray(config.sample_weight).ravel())
    else:
        data = training_data if training_data is not None else config.training_data
        if data is None:
            raise ConfigException("No training data: give AutoMLConfig(training_data=..., label_column_name=...) "
                                  "or pass the DataFrame to train().")
        if not config.label_column_name:
            raise ConfigException("label_column_name is required with training_data.")
        X, y, w = _split(training_frame(data, "training_data"), config.label_column_name, weight,
                         config.exclude_nan_labels, "training_data")
    valid = validation_data if validation_data is not None else config.validation_data
    Xv = yv = None
    if valid is not None:
        Xv, yv, _ = _split(training_frame(valid, "validation_data"), config.label_column_name or "", weight,
                           config.exclude_nan_labels, "validation_data")
    elif config.X_valid is not None:
        Xv = config.X_valid if isinstance(config.X_valid, pd.DataFrame) else pd.DataFrame(config.X_valid)
        yv = pd.Series(np.asarray(config.y_valid).ravel(), index=Xv.index)
    if len(X) < 2:
        raise DataException(f"the training data has {len(X)} labelled rows; AutoML needs at least 2")
    return X, y, w, Xv, yv


def _validation(settings: SearchSettings, y: pd.Series, has_validation_data: bool) -> tuple[dict[str, Any], str]:
    """FLAML's validation arguments by AML's rule: explicit data, explicit folds, else by size."""
    if has_validation_data:
        return {"eval_method": "holdout"}, "validation_data"
    if settings.validation_size is not None:
        return {"eval_method": "holdout", "split_ratio": settings.validation_size}, \
            f"train/validation split ({settings.validation_size:g} held out)"
    folds = settings.n_cross_validations
    if folds is None:
        if len(y) >= CV_ROW_LIMIT:
            return {"eval_method": "holdout", "split_ratio": 0.1}, "train/validation split (0.1 held out)"
        folds = 10 if len(y) < 1000 else 3
        limit = len(y) if settings.task != Tasks.CLASSIFICATION else int(y.value_counts().min())
        folds = max(2, min(folds, limit))
    limit = len(y) if settings.task != Tasks.CLASSIFICATION else int(y.value_counts().min())
    if folds > limit:
        raise DataException(f"n_cross_validations={folds} needs at least {folds} rows"
                            + (" of every class" if settings.task == Tasks.CLASSIFICATION else "")
                            + f"; the training data has {limit}. Use fewer folds.")
    return {"eval_method": "cv", "n_splits": folds}, f"{folds}-fold cross-validation"


def _metric_function(settings: SearchSettings, y_range: float) -> Any:
    """FLAML's custom metric: the loss to minimise (from AML's primary metric) and every AML metric."""
    info = METRICS[settings.task][settings.primary_metric]

    def metric(X_val: Any, y_val: Any, estimator: Any, labels: Any, X_train: Any, y_train: Any,
               *args: Any, **kwargs: Any) -> tuple[float, dict[str, float]]:
        predicted = estimator.predict(X_val)
        if settings.task == Tasks.CLASSIFICATION:
            try:
                proba = estimator.predict_proba(X_val)
            except (AttributeError, NotImplementedError):
                proba = None
            values = classification_metrics(y_val, predicted, proba, list(labels))
        else:
            values = regression_metrics(y_val, predicted, y_range)
        score = values[settings.primary_metric]
        if not math.isfinite(score):
            return WORST_LOSS, values
        return (1 - score if info.maximize else score), values

    return metric


def train(config: AutoMLConfig, training_data: Any = None, validation_data: Any = None, *, seed: int = 0,
          log_dir: str | None = None, elapsed_before: float = 0.0) -> AutoMLResult:
    """Run the AutoML search the config describes and return every trial and the best fitted model.

    ``training_data`` / ``validation_data`` override the config's (a DataFrame or TabularDataset).
    ``elapsed_before``: seconds of the experiment already spent before this call (an AutoMLStep's
    process start and data loading), counted against the budget as AML's experiment clock counts them.
    """
    started = time.monotonic() - max(0.0, elapsed_before)
    settings = config.search_settings()
    if settings.task == Tasks.FORECASTING:
        raise ConfigException("task='forecasting' is accepted but not trained by amlite yet: use "
                              "task='regression' with the time features as columns, or a PythonScriptStep.")
    X, y, weights, Xv, yv = _data(config, training_data, validation_data)
    if settings.task == Tasks.CLASSIFICATION and y.nunique() < 2:
        raise DataException(f"the label column has a single class ({y.iloc[0]!r}); classification needs two")
    validation, described = _validation(settings, y, Xv is not None)
    y_range = _label_range(config, y, settings.task)

    from flaml import AutoML  # the package import stays light: FLAML loads when a training starts

    budget = settings.time_budget_seconds
    with tempfile.TemporaryDirectory(dir=log_dir) as folder:
        log = Path(folder) / "trials.jsonl"
        search_budget = (budget - (time.monotonic() - started)) * (1 - REFIT_RESERVE)
        if search_budget <= 0:
            raise AutoMLTrainingException(f"the experiment timeout ({budget:g} s) ran out before training began")
        automl = AutoML()
        fit_args: dict[str, Any] = dict(
            task=FLAML_TASKS[settings.task], metric=_metric_function(settings, y_range), time_budget=search_budget,
            max_iter=settings.iterations, early_stop=settings.early_stopping, estimator_list=list(settings.estimators),
            n_jobs=settings.n_jobs, seed=seed, log_file_name=str(log), log_type="all", verbose=0,
            retrain_full=True, skip_transform=_featurization_off(config), **validation)
        if settings.iteration_timeout_seconds:
            fit_args["train_time_limit"] = settings.iteration_timeout_seconds
        if weights is not None:
            fit_args["sample_weight"] = weights.to_numpy()
        if Xv is not None:
            fit_args.update(X_val=Xv, y_val=yv)
        with warnings.catch_warnings():  # FLAML's own deprecation noise (pandas 3) is not the user's to read
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"flaml(\.|$)")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"flaml(\.|$)")
            automl.fit(X, y, **fit_args)
        trials = _trials(log, settings)
    if not trials or getattr(automl, "_trained_estimator", None) is None:
        raise AutoMLTrainingException(f"no trial finished within the experiment timeout ({budget:g} s): give "
                                      "the experiment more time (experiment_timeout_minutes)")
    best = _best(trials)
    model = AutoMLFittedModel(settings.task, best.algorithm, automl._transformer, automl._trained_estimator,
                              automl._label_transformer, list(X.columns))
    elapsed = time.monotonic() - started
    return AutoMLResult(task=settings.task, primary_metric=settings.primary_metric, trials=trials,
                        best_iteration=best.iteration, fitted_model=model, elapsed_seconds=elapsed,
                        time_budget_seconds=budget, stop_reason=_stop_reason(settings, trials, elapsed),
                        validation=described, settings=config.as_serializable_dict())


def _featurization_off(config: AutoMLConfig) -> bool:
    return isinstance(config.featurization, str) and config.featurization.lower() == "off"


def _label_range(config: AutoMLConfig, y: pd.Series, task: str) -> float:
    if task == Tasks.CLASSIFICATION:
        return 1.0
    low = config.y_min if config.y_min is not None else float(y.min())
    high = config.y_max if config.y_max is not None else float(y.max())
    return high - low


def _trials(log: Path, settings: SearchSettings) -> list[Trial]:
    if not log.exists():
        return []
    primary = settings.primary_metric
    trials: list[Trial] = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if "record_id" not in record:
            continue
        metrics = {k: float(v) for k, v in (record.get("logged_metric") or {}).items()}
        trials.append(Trial(iteration=len(trials), algorithm=aml_model_name(settings.task, record["learner"]),
                            estimator=record["learner"], hyperparameters=record.get("config") or {},
                            metrics=metrics, score=metrics.get(primary, math.nan),
                            duration_seconds=float(record.get("trial_time") or 0.0),
                            loss=float(record.get("validation_loss", math.inf)),
                            sample_size=record.get("sample_size")))
    return trials


def _best(trials: list[Trial]) -> Trial:
    """The trial FLAML kept: the lowest loss, the earliest on a tie (FLAML keeps only strict improvements)."""
    return min(trials, key=lambda t: (t.loss, t.iteration))


def _stop_reason(settings: SearchSettings, trials: list[Trial], elapsed: float) -> str:
    if len(trials) >= settings.iterations:
        return "iterations"
    if elapsed >= settings.time_budget_seconds * (1 - 2 * REFIT_RESERVE):
        return "experiment_timeout"
    return "early_stopping" if settings.early_stopping else "search_space_exhausted"
