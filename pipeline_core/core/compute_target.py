"""AML v1 ``azureml.core.compute_target``: where the samples import ``ComputeTargetException`` from."""

from pipeline_core.core.compute import ComputeTarget
from pipeline_core.exceptions import ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetException"]
