"""amlite: Azure ML SDK v1 pipelines on your own Azure Functions app.

Migration is an import rewrite, ``azureml.`` -> ``pipeline_core.``; every
public name is also re-exported here. Each is imported on first use
(``pipeline_core._lazy``), so a step's ``from pipeline_core.core import Run``
does not load the pipeline builder and the Storage SDKs.
"""

from typing import TYPE_CHECKING

from pipeline_core import _aiohttp_deferral
from pipeline_core._lazy import lazy
from pipeline_core.core import VERSION

__version__ = VERSION
_aiohttp_deferral.install()  # aiohttp, imported by the Storage SDK and Durable's client, loads only when used

_CORE = ["AmlCompute", "ComputeTarget", "CondaDependencies", "Dataset", "Datastore", "Environment", "Experiment",
         "Model", "Run", "RunConfiguration", "ScriptRunConfig", "Workspace"]
_PIPELINE = ["Pipeline", "PipelineData", "PipelineEndpoint", "PipelineParameter", "PipelineRun", "PublishedPipeline",
             "Schedule", "ScheduleRecurrence", "StepRun", "StepSequence", "TimeZone"]
_EXPORTS = {
    **dict.fromkeys(_CORE, "pipeline_core.core"),
    **dict.fromkeys(["DataPath", "DataPathComputeBinding", "DataReference", "OutputFileDatasetConfig"],
                    "pipeline_core.data"),
    **dict.fromkeys(["AmliteError", "ValidationError"], "pipeline_core.errors"),
    **dict.fromkeys(_PIPELINE, "pipeline_core.pipeline.core"),
    **dict.fromkeys(["AdlaStep", "AutoMLStep", "AutoMLStepRun", "CommandStep", "DatabricksStep", "DataTransferStep",
                     "HyperDriveStep", "HyperDriveStepRun", "ParallelRunConfig", "ParallelRunStep", "PythonScriptStep"],
                    "pipeline_core.pipeline.steps"),
    "RunDetails": "pipeline_core.widgets",  # a notebook tool: not in __all__, imported only when used
}
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

if TYPE_CHECKING:
    from pipeline_core.core import (
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
    from pipeline_core.widgets import RunDetails  # noqa: F401 - reached through __getattr__, not in __all__

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
