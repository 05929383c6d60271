"""AML v1 ``azureml.core.runconfig``: ``RunConfiguration`` (and ``CondaDependencies``, re-exported).

The images and MPI settings are recorded when a step is given them; steps run as processes
on the Functions workers, never in these images.

Of a run configuration, a step honours ``max_run_duration_seconds`` (the step
fails with "timed out after N s" and its processes are stopped); the rest
(environment, docker, target, node count) is recorded on the run and named once
in a warning, because steps use the Python environment of the app.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.core.databricks import EggLibrary, JarLibrary, MavenLibrary, PyPiLibrary, RCranLibrary
from pipeline_core.core.environment import CondaDependencies, Environment
from pipeline_core.execution.step_settings import check_run_duration


class RunConfiguration:
    """How a script runs (AML v1 signature)."""

    def __init__(self, script: str | None = None, arguments: list[Any] | None = None, framework: str | None = None,
                 communicator: str | None = None, conda_dependencies: CondaDependencies | None = None,
                 command: Any = None, **kwargs: Any):
        self.script = script
        self.arguments = list(arguments or [])
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.command = command
        self.environment = Environment("runconfig")
        self.target = "local"
        self.node_count = 1
        self._max_run_duration_seconds: int | None = None
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies

    @property
    def max_run_duration_seconds(self) -> int | None:
        """The longest the step may run; None: the app's limit (``AMLITE_STEP_TIMEOUT_SECONDS``)."""
        return self._max_run_duration_seconds

    @max_run_duration_seconds.setter
    def max_run_duration_seconds(self, value: Any) -> None:
        self._max_run_duration_seconds = check_run_duration(value)

    def __repr__(self) -> str:
        limit = "" if self.max_run_duration_seconds is None else \
            f", max_run_duration_seconds={self.max_run_duration_seconds}"
        return f"RunConfiguration(environment={self.environment.name!r}, target={self.target!r}{limit})"



DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu20.04"


class MpiConfiguration:
    """AML's distributed-training settings; recorded (a step runs as one process here)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1, **kwargs: Any):
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count
        self.__dict__.update(kwargs)


__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "CondaDependencies", "EggLibrary", "JarLibrary", "MavenLibrary",
           "PyPiLibrary", "RCranLibrary", "MpiConfiguration", "RunConfiguration",
           "check_run_duration"]
