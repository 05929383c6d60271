"""AML v1's ``azureml.train.automl`` names: ``AutoMLConfig`` and ``AutoMLRun`` (see docs/training.md).

``train`` (in ``trainer``) runs the search with FLAML; it is imported on first use, so importing
this package to build a config does not load FLAML or the estimators' libraries.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.train.automl.config import AutoMLConfig, SearchSettings
from pipeline_core.train.automl.exceptions import AutoMLTrainingException, ConfigException, DataException

__all__ = ["AutoMLConfig", "AutoMLRun", "AutoMLTrainingException", "ConfigException", "DataException",
           "SearchSettings", "train"]


def __getattr__(name: str) -> Any:
    if name == "AutoMLRun":
        from pipeline_core.train.automl.run import AutoMLRun
        return AutoMLRun
    if name == "train":
        from pipeline_core.train.automl.trainer import train
        return train
    raise AttributeError(name)
