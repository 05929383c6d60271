"""``AutoMLConfig`` with AML v1's arguments, defaults and checks.

Every AML argument is accepted. The ones FLAML has a counterpart for are used (see ``settings``);
the rest are recorded on ``ignored`` and named once in a warning, so migrated code runs and says
what it did not do.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from pipeline_core._warnings import AmliteCompatibilityWarning, warn_ignored
from pipeline_core.train.automl.exceptions import ConfigException
from pipeline_core.train.automl.names import (
    DEFAULT_MODELS,
    MODELS,
    PRIMARY_METRICS,
    TASKS,
    UNSUPPORTED_MODELS,
)

#: AML's default experiment timeout (6 days) and iteration count.
DEFAULT_TIMEOUT_MINUTES = 6 * 24 * 60
DEFAULT_ITERATIONS = 1000
#: Arguments accepted for compatibility that change nothing here.
IGNORED_ARGUMENTS = (
    "path", "compute_target", "spark_context", "cv_splits_indices", "num_classes", "max_concurrent_iterations",
    "mem_in_mb", "enforce_time_on_windows", "experiment_exit_score", "verbosity", "enable_tf",
    "model_explainability", "enable_onnx_compatible_models", "enable_voting_ensemble", "enable_stack_ensemble",
    "debug_log", "test_data", "test_size", "cv_split_column_names", "enable_local_managed", "enable_dnn",
    "forecasting_parameters", "positive_label", "sample_weight_valid",
)


@dataclass(frozen=True)
class SearchSettings:
    """What the trainer runs, resolved from the config: FLAML estimators, budget, validation scheme."""

    task: str
    primary_metric: str
    estimators: tuple[str, ...]
    models: tuple[str, ...]
    time_budget_seconds: float
    iterations: int
    early_stopping: bool
    n_cross_validations: int | None
    validation_size: float | None
    iteration_timeout_seconds: float | None
    n_jobs: int
    dropped_models: tuple[str, ...] = field(default=())


class AutoMLConfig:
    """An automated ML experiment (AML's ``azureml.train.automl.AutoMLConfig``)."""

    def __init__(self, task: str, path: str | None = None, iterations: int | None = None,
                 primary_metric: str | None = None, positive_label: Any = None, compute_target: Any = None,
                 spark_context: Any = None, X: Any = None, y: Any = None, sample_weight: Any = None,
                 X_valid: Any = None, y_valid: Any = None, sample_weight_valid: Any = None,
                 cv_splits_indices: Any = None, validation_size: float | None = None,
                 n_cross_validations: int | str | None = None, y_min: float | None = None,
                 y_max: float | None = None, num_classes: int | None = None, featurization: Any = "auto",
                 max_cores_per_iteration: int = 1, max_concurrent_iterations: int = 1,
                 iteration_timeout_minutes: int | None = None, mem_in_mb: int | None = None,
                 enforce_time_on_windows: bool = True, experiment_timeout_hours: float | None = None,
                 experiment_exit_score: float | None = None, enable_early_stopping: bool = True,
                 blocked_models: list[str] | None = None, blacklist_models: list[str] | None = None,
                 exclude_nan_labels: bool = True, verbosity: int = 20, enable_tf: bool = False,
                 model_explainability: bool = True, allowed_models: list[str] | None = None,
                 whitelist_models: list[str] | None = None, enable_onnx_compatible_models: bool = False,
                 enable_voting_ensemble: bool = True, enable_stack_ensemble: bool | None = None,
                 debug_log: str = "automl.log", training_data: Any = None, validation_data: Any = None,
                 test_data: Any = None, test_size: float | None = None, label_column_name: str | None = None,
                 weight_column_name: str | None = None, cv_split_column_names: list[str] | None = None,
                 enable_local_managed: bool = False, enable_dnn: bool | None = None,
                 forecasting_parameters: Any = None, experiment_timeout_minutes: float | None = None,
                 **kwargs: Any):
        given = dict(locals())
        given.pop("self")
        given.pop("kwargs")
        self.user_settings: dict[str, Any] = {**given, **kwargs}
        if not isinstance(task, str) or task.lower() not in TASKS:
            raise ConfigException(f"Invalid task {task!r}: AutoMLConfig's task must be one of {', '.join(TASKS)}.")
        self.task = task.lower()
        self.primary_metric = self._primary_metric(primary_metric)
        self.training_data, self.label_column_name = self._training(training_data, label_column_name, X, y)
        self.X, self.y, self.X_valid, self.y_valid = X, y, X_valid, y_valid
        self.validation_data = validation_data
        self.sample_weight = sample_weight
        self.weight_column_name = weight_column_name
        self.n_cross_validations = self._cross_validations(n_cross_validations, validation_data, X_valid,
                                                           validation_size)
        self.validation_size = validation_size
        self.experiment_timeout_minutes = self._timeout(experiment_timeout_hours, experiment_timeout_minutes)
        self.iterations = _positive_int("iterations", iterations if iterations is not None else DEFAULT_ITERATIONS)
        self.iteration_timeout_minutes = (None if iteration_timeout_minutes is None
                                          else _positive_number("iteration_timeout_minutes", iteration_timeout_minutes))
        self.enable_early_stopping = bool(enable_early_stopping)
        self.featurization = self._featurization(featurization)
        self.allowed_models = list(allowed_models or whitelist_models or []) or None
        self.blocked_models = list(blocked_models or blacklist_models or []) or None
        self.max_cores_per_iteration = max_cores_per_iteration
        if max_cores_per_iteration != -1:
            _positive_int("max_cores_per_iteration", max_cores_per_iteration)
        self.exclude_nan_labels = exclude_nan_labels
        self.y_min, self.y_max = y_min, y_max
        if y_min is not None and y_max is not None and y_min >= y_max:
            raise ConfigException(f"y_min ({y_min}) must be less than y_max ({y_max}).")
        self.compute_target = compute_target
        self.models = self._models()  # checks allowed/blocked now, as AML does at construction
        self.ignored = {name: self.user_settings[name] for name in IGNORED_ARGUMENTS
                        if self.user_settings.get(name) is not None and self.user_settings[name] != _default(name)}
        self.ignored.update({k: v for k, v in kwargs.items()})
        for name in sorted(self.ignored):
            warn_ignored(f"AutoMLConfig({name}=...)")
        dropped = self.search_settings().dropped_models
        if dropped:
            warnings.warn(f"allowed_models {list(dropped)} have no equivalent in amlite and are skipped; the "
                          f"search uses {list(self.models)}.", AmliteCompatibilityWarning, stacklevel=2)

    def _primary_metric(self, metric: str | None) -> str:
        allowed = PRIMARY_METRICS[self.task]
        if metric is None:
            return allowed[0]
        if metric not in allowed:
            raise ConfigException(f"Invalid primary_metric {metric!r} for task {self.task!r}. "
                                  f"Use one of: {', '.join(allowed)}.")
        return metric

    @staticmethod
    def _training(training_data: Any, label_column_name: str | None, X: Any, y: Any) -> tuple[Any, str | None]:
        if training_data is not None and (X is not None or y is not None):
            raise ConfigException("Give the training data once: training_data with label_column_name, or the "
                                  "older X and y, not both.")
        if training_data is not None and not label_column_name:
            raise ConfigException("label_column_name is required with training_data: name the column to predict, "
                                  "e.g. label_column_name='target'.")
        if (X is None) != (y is None):
            raise ConfigException("X and y go together: give both, or use training_data with label_column_name.")
        return training_data, label_column_name

    @staticmethod
    def _cross_validations(n: int | str | None, validation_data: Any, X_valid: Any,
                           validation_size: float | None) -> int | None:
        if n is None or n == "auto":
            return None
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigException(f"n_cross_validations must be an integer of at least 2 (or 'auto'), got {n!r}.")
        if validation_data is not None or X_valid is not None:
            raise ConfigException("n_cross_validations and validation_data cannot both be set: give validation "
                                  "data for a train/validation split, or n_cross_validations for cross-validation.")
        if validation_size is not None:
            raise ConfigException("n_cross_validations and validation_size cannot both be set: choose "
                                  "cross-validation or a validation split.")
        return n

    @staticmethod
    def _timeout(hours: float | None, minutes: float | None) -> float:
        if hours is not None and minutes is not None:
            raise ConfigException("experiment_timeout_hours and experiment_timeout_minutes cannot both be set: "
                                  "give one.")
        if hours is not None:
            return _positive_number("experiment_timeout_hours", hours) * 60
        if minutes is not None:
            return _positive_number("experiment_timeout_minutes", minutes)
        return DEFAULT_TIMEOUT_MINUTES

    @staticmethod
    def _featurization(featurization: Any) -> Any:
        if isinstance(featurization, str) and featurization.lower() not in ("auto", "off"):
            raise ConfigException(f"featurization must be 'auto', 'off' or a FeaturizationConfig, got "
                                  f"{featurization!r}.")
        return featurization

    def _models(self) -> tuple[str, ...]:
        known = set(MODELS[self.task]) | set(UNSUPPORTED_MODELS[self.task])
        for arg, names in (("allowed_models", self.allowed_models), ("blocked_models", self.blocked_models)):
            unknown = [n for n in names or [] if n not in known]
            if unknown:
                raise ConfigException(f"{arg} names unknown {self.task} models {unknown}. Known models: "
                                      f"{', '.join(sorted(known))}.")
        blocked = set(self.blocked_models or [])
        if self.allowed_models:
            both = blocked & set(self.allowed_models)
            if both:
                raise ConfigException(f"{sorted(both)} are both allowed and blocked: remove them from one of "
                                      "allowed_models and blocked_models.")
            candidates = [m for m in dict.fromkeys(self.allowed_models) if m in MODELS[self.task]]
            if not candidates:
                raise ConfigException(f"None of allowed_models {self.allowed_models} can be trained here. Models "
                                      f"available for {self.task}: {', '.join(MODELS[self.task])}.")
        else:
            candidates = [m for m in DEFAULT_MODELS[self.task] if m not in blocked]
        if not candidates:
            raise ConfigException("All models are blocked: blocked_models leaves nothing to train. Remove some "
                                  f"from blocked_models, or allow one of {', '.join(MODELS[self.task])}.")
        return tuple(candidates)

    def search_settings(self) -> SearchSettings:
        """The search the trainer runs."""
        dropped = tuple(m for m in self.allowed_models or [] if m not in MODELS[self.task])
        return SearchSettings(
            task=self.task, primary_metric=self.primary_metric, models=self.models,
            estimators=tuple(MODELS[self.task][m] for m in self.models),
            time_budget_seconds=self.experiment_timeout_minutes * 60, iterations=self.iterations,
            early_stopping=self.enable_early_stopping, n_cross_validations=self.n_cross_validations,
            validation_size=self.validation_size,
            iteration_timeout_seconds=(None if self.iteration_timeout_minutes is None
                                       else self.iteration_timeout_minutes * 60),
            n_jobs=self.max_cores_per_iteration, dropped_models=dropped)

    def get_supported_dataset_languages(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        return {}

    def as_serializable_dict(self) -> dict[str, Any]:
        """What the run records: the resolved settings plus the arguments accepted and ignored."""
        s = self.search_settings()
        return {"task_type": self.task, "primary_metric": self.primary_metric,
                "label_column_name": self.label_column_name, "n_cross_validations": self.n_cross_validations,
                "validation_size": self.validation_size, "experiment_timeout_minutes": self.experiment_timeout_minutes,
                "iterations": self.iterations, "enable_early_stopping": self.enable_early_stopping,
                "featurization": self.featurization if isinstance(self.featurization, str) else "custom",
                "allowed_models": list(s.models), "blocked_models": self.blocked_models,
                "models_not_available": list(s.dropped_models), "max_cores_per_iteration": s.n_jobs,
                "ignored": sorted(self.ignored)}


_DEFAULTS = {"enforce_time_on_windows": True, "verbosity": 20, "enable_tf": False, "model_explainability": True,
             "enable_onnx_compatible_models": False, "enable_voting_ensemble": True, "debug_log": "automl.log",
             "enable_local_managed": False, "max_concurrent_iterations": 1}


def _default(name: str) -> Any:
    return _DEFAULTS.get(name)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigException(f"{name} must be an integer of at least 1, got {value!r}.")
    return value


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigException(f"{name} must be a number greater than 0, got {value!r}.")
    return float(value)
