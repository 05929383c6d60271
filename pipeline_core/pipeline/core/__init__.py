"""AML v1 ``azureml.pipeline.core`` names."""

from pipeline_core.pipeline.core.builder import StepSequence
from pipeline_core.pipeline.core.graph import PipelineData, PipelineParameter
from pipeline_core.pipeline.core.pipeline import Pipeline
from pipeline_core.pipeline.core.pipeline_endpoint import PipelineEndpoint, PipelineIdVersion
from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline
from pipeline_core.pipeline.core.run import PipelineRun, PortDataReference, StepRun, StepRunOutput
from pipeline_core.pipeline.core.schedule import Schedule, ScheduleRecurrence, TimeZone
from pipeline_core.pipeline.core.training_output import TrainingOutput

__all__ = ["Pipeline", "PipelineData", "PipelineEndpoint", "PipelineIdVersion", "PipelineParameter", "PipelineRun",
           "PortDataReference", "PublishedPipeline", "Schedule", "ScheduleRecurrence", "StepRun", "StepRunOutput",
           "StepSequence", "TimeZone", "TrainingOutput"]
