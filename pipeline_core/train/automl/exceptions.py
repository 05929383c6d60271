"""AML's AutoML error names (``azureml.automl.core.shared.exceptions``)."""

from __future__ import annotations

from pipeline_core.exceptions import TrainingException, UserErrorException


class ConfigException(UserErrorException, ValueError):
    """An AutoMLConfig argument, or a combination of them, is wrong; the message names it and the fix."""


class DataException(UserErrorException, ValueError):
    """The training data cannot be trained on as configured (a missing label column, too few rows)."""


class AutoMLTrainingException(TrainingException):
    """No trial finished within the budget, so there is no model."""
