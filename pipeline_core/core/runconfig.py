"""AML v1 ``azureml.core.runconfig`` names."""

from pipeline_core.core.environment import CondaDependencies, RunConfiguration

__all__ = ["CondaDependencies", "RunConfiguration"]
