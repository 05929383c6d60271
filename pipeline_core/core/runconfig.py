"""AML v1 ``azureml.core.runconfig`` names.

The images and MPI settings are recorded when a step is given them; steps run as processes
on the Functions workers, never in these images.
"""

from typing import Any

from pipeline_core.core.environment import CondaDependencies, RunConfiguration

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu20.04"


class MpiConfiguration:
    """AML's distributed-training settings; recorded (a step runs as one process here)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1, **kwargs: Any):
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count
        self.__dict__.update(kwargs)


__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "CondaDependencies", "MpiConfiguration", "RunConfiguration"]
