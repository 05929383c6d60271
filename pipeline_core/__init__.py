"""amlite: Azure ML SDK v1 pipelines on your own Azure Functions app.

Migration is an import rewrite, ``azureml.`` -> ``pipeline_core.``; every
public name is also re-exported here.
"""

from pipeline_core.core import (
    VERSION,
    AmlCompute,
    ComputeTarget,
    CondaDependencies,
    Dataset,
    Datastore,
    Environment,
    Experiment,
    Model,
    Run,
    RunConfiguration,
    ScriptRunConfig,
    Workspace,
)
from pipeline_core.data import DataPath, DataPathComputeBinding, DataReference, OutputFileDatasetConfig
from pipeline_core.errors import AmliteError, ValidationError
from pipeline_core.pipeline.core import (
    Pipeline,
    PipelineData,
    PipelineEndpoint,
    PipelineParameter,
    PipelineRun,
    PublishedPipeline,
    Schedule,
    ScheduleRecurrence,
    StepRun,
    StepSequence,
    TimeZone,
)
from pipeline_core.pipeline.steps import (
    AdlaStep,
    AutoMLStep,
    AutoMLStepRun,
    CommandStep,
    DatabricksStep,
    DataTransferStep,
    HyperDriveStep,
    HyperDriveStepRun,
    ParallelRunConfig,
    ParallelRunStep,
    PythonScriptStep,
)

__version__ = VERSION

__all__ = [
    "AdlaStep", "CommandStep", "DataTransferStep",
    "AmlCompute", "AmliteError", "ComputeTarget", "CondaDependencies", "DataPath", "DataPathComputeBinding", "Dataset",
    "DatabricksStep", "ParallelRunConfig", "ParallelRunStep",
    "AutoMLStep", "AutoMLStepRun", "HyperDriveStep", "HyperDriveStepRun",
    "DataReference", "Datastore", "Environment", "Experiment", "Model", "OutputFileDatasetConfig", "Pipeline",
    "PipelineData", "PipelineEndpoint", "PipelineParameter", "PipelineRun", "PublishedPipeline", "PythonScriptStep", "Run",
    "RunConfiguration",
    "Schedule", "ScheduleRecurrence", "ScriptRunConfig", "StepRun", "StepSequence", "TimeZone", "ValidationError",
    "Workspace",
]


def __getattr__(name: str) -> object:
    """``pipeline_core.RunDetails`` without importing the run view until it is used (it is a notebook tool)."""
    if name == "RunDetails":
        from pipeline_core.widgets import RunDetails

        return RunDetails
    raise AttributeError(f"module 'pipeline_core' has no attribute {name!r}")
