"""The samples that drive other Azure services: Data Factory, Databricks, Data Lake Analytics, Kusto, Batch.

They cannot run on this machine (no such service is reachable), and not on AML either without one.
What the import rewrite alone needs of amlite is the surface their cells touch before a step
runs: the names at AML's module paths, the datastore registrations and the compute attributes.
One case per missing name, so each flips on its own when it lands.
"""

from __future__ import annotations

import importlib

import pytest
from migration_support import MIGRATION

from pipeline_core.core import Datastore, Workspace
from pipeline_core.core.compute import AdlaCompute, AmlCompute, ComputeTarget, DataFactoryCompute

pytestmark = MIGRATION


def _missing(name: str, sample: str) -> object:
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=f"needs {name} ({sample})"), id=name)


@pytest.mark.parametrize("qualified", [
    "pipeline_core.pipeline.steps.DataTransferStep",
    "pipeline_core.pipeline.steps.DatabricksStep",
    "pipeline_core.core.runconfig.JarLibrary",
    "pipeline_core.core.databricks.PyPiLibrary",
    "pipeline_core.pipeline.steps.AdlaStep",
    _missing("pipeline_core.core.compute.KustoCompute", "aml-pipelines-use-kusto-as-compute-target"),
    _missing("pipeline_core.pipeline.steps.KustoStep", "aml-pipelines-use-kusto-as-compute-target"),
    _missing("pipeline_core.core.compute.BatchCompute", "aml-pipelines-how-to-use-azurebatch-to-run-a-windows-executable"),
    _missing("pipeline_core.pipeline.steps.AzureBatchStep", "aml-pipelines-how-to-use-azurebatch-to-run-a-windows-executable"),
    "pipeline_core.data.sql_data_reference.SqlDataReference",
    "pipeline_core.core.compute.DataFactoryCompute",
    "pipeline_core.core.compute.DatabricksCompute",
    "pipeline_core.core.compute.AdlaCompute",
    "pipeline_core.exceptions.ComputeTargetException",
    "pipeline_core.exceptions.UserErrorException",
])
def test_names_the_samples_import(qualified: str) -> None:
    module, _, name = qualified.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), type)


@pytest.mark.parametrize("method", [
    _missing("register_dbfs", "aml-pipelines-use-databricks-as-compute-target"),
    _missing("register_azure_data_lake", "aml-pipelines-use-adla-as-compute-target"),
    "register_azure_blob_container",
    "register_azure_data_lake_gen2",
    "register_azure_sql_database",
    "register_azure_postgre_sql",
    "register_azure_my_sql",
])
def test_datastore_registrations_the_samples_call(method: str) -> None:
    assert callable(getattr(Datastore, method))


def test_attached_compute_reports_its_resource(workspace: Workspace) -> None:
    """The ADLA and Batch samples print cluster_resource_id, provisioning_state and provisioning_errors."""
    compute = AdlaCompute(workspace, "testadl")
    print(compute.provisioning_state, compute.provisioning_errors)
    assert compute.cluster_resource_id == (f"/subscriptions/{workspace.subscription_id}/resourceGroups/"
                                           f"{workspace.resource_group}/providers/Microsoft.DataLakeAnalytics/"
                                           "accounts/testadl")
    attached = ComputeTarget.attach(workspace, "adla2", AdlaCompute.attach_configuration(
        resource_group="rg-data", account_name="lakeacct"))
    assert attached.cluster_resource_id.endswith("/resourceGroups/rg-data/providers/Microsoft.DataLakeAnalytics/"
                                                 "accounts/lakeacct")
    given = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DataFactory/factories/adf1"
    factory = ComputeTarget.attach(workspace, "adf", DataFactoryCompute.attach_configuration(resource_id=given))
    assert factory.cluster_resource_id == given
    assert AmlCompute(workspace, "cpu").cluster_resource_id.endswith(
        f"/Microsoft.MachineLearningServices/workspaces/{workspace.name}/computes/cpu")


def test_default_datastore_names_its_account(workspace: Workspace) -> None:
    """aml-pipelines-how-to-use-azurebatch-to-run-a-windows-executable prints the datastore's account and container."""
    store = Datastore(workspace, "workspaceblobstore")
    print("Datastore Account Name: " + store.account_name)
    print("Datastore Container Name: " + store.container_name)
    assert store.workspace.name
    assert store.account_name == "devstoreaccount1"  # the emulator's account: the workspace's own
    assert workspace.get_default_datastore().account_name == "devstoreaccount1"
