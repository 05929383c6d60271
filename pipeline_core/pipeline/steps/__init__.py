"""AML v1 ``azureml.pipeline.steps`` names."""

from pipeline_core.pipeline.steps.base import PipelineStep
from pipeline_core.pipeline.steps.hyperdrive_step import HyperDriveStep, HyperDriveStepRun
from pipeline_core.pipeline.steps.parallel_run_step import ParallelRunConfig, ParallelRunStep
from pipeline_core.pipeline.steps.python_script_step import PythonScriptStep

__all__ = ["HyperDriveStep", "HyperDriveStepRun", "ParallelRunConfig", "ParallelRunStep", "PipelineStep", "PythonScriptStep"]
