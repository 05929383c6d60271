"""AML v1 ``azureml.core`` names."""

from pipeline_core.core.compute import (
    AdlaCompute,
    AmlCompute,
    ComputeInstance,
    ComputeTarget,
    DatabricksCompute,
    DataFactoryCompute,
)
from pipeline_core.core.dataset import Dataset
from pipeline_core.core.datastore import Datastore
from pipeline_core.core.environment import CondaDependencies, Environment, ScriptRunConfig
from pipeline_core.core.experiment import Experiment
from pipeline_core.core.model import Model
from pipeline_core.core.run import Run
from pipeline_core.core.runconfig import RunConfiguration
from pipeline_core.core.workspace import Workspace

VERSION = "0.1.0"  # the amlite release; AML code prints ``azureml.core.VERSION`` in its first cell

__all__ = ["VERSION", "AdlaCompute", "AmlCompute", "ComputeInstance", "ComputeTarget", "CondaDependencies",
           "DataFactoryCompute", "DatabricksCompute", "Dataset", "Datastore", "Environment", "Experiment",
           "Model", "Run", "RunConfiguration", "ScriptRunConfig", "Workspace"]
