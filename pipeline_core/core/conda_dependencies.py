"""AML v1 ``azureml.core.conda_dependencies``."""

from pipeline_core.core.environment import CondaDependencies

__all__ = ["CondaDependencies"]
