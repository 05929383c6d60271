"""AML v1 ``azureml.core`` names (each imported on first use: ``pipeline_core._lazy``)."""

from typing import TYPE_CHECKING

from pipeline_core._lazy import lazy

VERSION = "0.1.0"  # the amlite release; AML code prints ``azureml.core.VERSION`` in its first cell

_EXPORTS = {
    **dict.fromkeys(["AdlaCompute", "AmlCompute", "ComputeInstance", "ComputeTarget", "DatabricksCompute",
                     "DataFactoryCompute"], "pipeline_core.core.compute"),
    "Dataset": "pipeline_core.core.dataset",
    "Datastore": "pipeline_core.core.datastore",
    **dict.fromkeys(["CondaDependencies", "Environment", "ScriptRunConfig"], "pipeline_core.core.environment"),
    "Experiment": "pipeline_core.core.experiment",
    "Model": "pipeline_core.core.model",
    "Run": "pipeline_core.core.run",
    "RunConfiguration": "pipeline_core.core.runconfig",
    "Workspace": "pipeline_core.core.workspace",
}
__getattr__, __dir__ = lazy(__name__, _EXPORTS)

if TYPE_CHECKING:
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

__all__ = ["VERSION", "AdlaCompute", "AmlCompute", "ComputeInstance", "ComputeTarget", "CondaDependencies",
           "DataFactoryCompute", "DatabricksCompute", "Dataset", "Datastore", "Environment", "Experiment",
           "Model", "Run", "RunConfiguration", "ScriptRunConfig", "Workspace"]
