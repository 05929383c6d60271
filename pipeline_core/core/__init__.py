"""AML v1 ``azureml.core`` names."""

from pipeline_core.core.compute import AmlCompute, ComputeTarget
from pipeline_core.core.dataset import Dataset
from pipeline_core.core.datastore import Datastore
from pipeline_core.core.environment import CondaDependencies, Environment, ScriptRunConfig
from pipeline_core.core.experiment import Experiment
from pipeline_core.core.runconfig import RunConfiguration
from pipeline_core.core.workspace import Workspace

__all__ = ["AmlCompute", "ComputeTarget", "CondaDependencies", "Dataset", "Datastore", "Environment", "Experiment",
           "RunConfiguration", "ScriptRunConfig", "Workspace"]
