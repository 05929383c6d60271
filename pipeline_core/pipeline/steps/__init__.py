"""AML v1 ``azureml.pipeline.steps`` names."""

from pipeline_core.pipeline.steps.automl_step import AutoMLStep, AutoMLStepRun
from pipeline_core.pipeline.steps.base import PipelineStep
from pipeline_core.pipeline.steps.parallel_run_step import ParallelRunConfig, ParallelRunStep
from pipeline_core.pipeline.steps.python_script_step import PythonScriptStep

__all__ = ["AutoMLStep", "AutoMLStepRun", "ParallelRunConfig", "ParallelRunStep", "PipelineStep", "PythonScriptStep"]
