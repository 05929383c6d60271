"""AML v1 ``azureml.pipeline.steps`` names."""

from pipeline_core.pipeline.steps.adla_step import AdlaStep
from pipeline_core.pipeline.steps.base import PipelineStep
from pipeline_core.pipeline.steps.command_step import CommandStep
from pipeline_core.pipeline.steps.data_transfer_step import DataTransferStep
from pipeline_core.pipeline.steps.databricks_step import DatabricksStep
from pipeline_core.pipeline.steps.parallel_run_step import ParallelRunConfig, ParallelRunStep
from pipeline_core.pipeline.steps.python_script_step import PythonScriptStep

__all__ = ["AdlaStep", "CommandStep", "DataTransferStep", "DatabricksStep", "ParallelRunConfig", "ParallelRunStep", "PipelineStep",
           "PythonScriptStep"]
