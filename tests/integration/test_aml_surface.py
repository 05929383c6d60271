"""The first cells of AML v1's pipeline samples, after the import rewrite alone.

Every sample prints the SDK version and the workspace, finds or creates its cluster inside a
``try``/``except ComputeTargetException`` and lists what the workspace holds. These run
unchanged against a local workspace.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pipeline_core import Pipeline, PythonScriptStep, Workspace
from pipeline_core.core import VERSION, Experiment
from pipeline_core.core.compute import AmlCompute, ComputeTarget, DatabricksCompute
from pipeline_core.core.compute_target import ComputeTargetException
from pipeline_core.core.dataset import Dataset
from pipeline_core.core.runconfig import DEFAULT_CPU_IMAGE, MpiConfiguration, RunConfiguration
from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import ActivityFailedException, AzureMLException, UserErrorException

pytestmark = pytest.mark.integration


def test_version_and_workspace_lines_print_as_in_the_samples(workspace: Workspace) -> None:
    assert VERSION.count(".") == 2
    details = "\n".join([workspace.name, workspace.resource_group, workspace.location, workspace.subscription_id])
    assert details.splitlines() == ["local", "amlite-local", "local", "00000000-0000-0000-0000-000000000000"]
    assert workspace.get_details()["id"].endswith("/workspaces/local")


def test_find_or_create_the_cluster_cell(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"cpu-{uuid.uuid4().hex[:6]}"
    if name in workspace.compute_targets and type(workspace.compute_targets[name]) is AmlCompute:
        pytest.fail("a fresh workspace has no cluster yet")
    try:
        target = ComputeTarget(workspace=workspace, name=name)
        assert target.type == "Local"  # found-or-made; the sample goes on with it
    except ComputeTargetException:
        pytest.fail("amlite never raises for a missing compute target")
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
    cluster = ComputeTarget.create(workspace, name, config)
    cluster.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
    assert "Succeeded" in capsys.readouterr().out
    assert type(workspace.compute_targets[name]) is AmlCompute and cluster.type == "AmlCompute"
    assert cluster.get_status().serialize()["currentNodeCount"] == 0
    assert cluster.get_status() == "Succeeded"
    assert cluster.recorded["provisioning_configuration"]["vm_size"] == "STANDARD_D2_V2"
    again = ComputeTarget(workspace=workspace, name=name)
    assert type(again) is AmlCompute  # AML hands back the registered kind
    attach = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="dbw", access_token="secret")
    databricks = ComputeTarget.attach(workspace, "dbx", attach)
    assert databricks.type == "Databricks" and "secret" not in str(databricks.serialize())


def test_aml_exception_names_are_amlite_errors() -> None:
    assert issubclass(ComputeTargetException, AzureMLException) and issubclass(AzureMLException, AmliteError)
    with pytest.raises(AmliteError):
        raise UserErrorException("bad argument")
    assert issubclass(ActivityFailedException, AzureMLException)


def test_runconfig_names(workspace: Workspace) -> None:
    config = RunConfiguration()
    config.environment.docker.enabled = True
    config.environment.docker.base_image = DEFAULT_CPU_IMAGE
    config.environment.spark.precache_packages = False
    assert config.environment.docker.base_image.startswith("mcr.microsoft.com/azureml/")
    assert MpiConfiguration(process_count_per_node=2).process_count_per_node == 2


def test_experiments_and_datasets_of_the_workspace(workspace: Workspace, source_dir: Path, experiment_name: str,
                                                   tmp_path: Path) -> None:
    (source_dir / "hello.py").write_text("print('hello')\n")
    step = PythonScriptStep("hello.py", name="hello", source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    run.wait_for_completion(show_output=False)
    assert experiment_name in workspace.experiments
    assert [e.name for e in Experiment.list(workspace, experiment_name=experiment_name)] == [experiment_name]
    folder = tmp_path / "rows"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n")
    prefix = f"surface-{uuid.uuid4().hex[:6]}"
    datastore = workspace.get_default_datastore()
    datastore.upload(str(folder), target_path=prefix, show_progress=False)
    name = f"table-{uuid.uuid4().hex[:6]}"
    Dataset.Tabular.from_delimited_files(path=(datastore, f"{prefix}/a.csv")).register(workspace, name)
    assert workspace.datasets[name].to_pandas_dataframe()["y"].tolist() == [2]


def test_step_details_have_the_keys_aml_code_reads(workspace: Workspace, source_dir: Path, experiment_name: str,
                                                   tmp_path: Path) -> None:
    """runDefinition, logFiles, inputDatasets, outputDatasets, target, properties, as reports and notebooks read them;
    a reused step's logFiles point at the run it reused."""
    from pipeline_core import PipelineData

    (tmp_path / "in.csv").write_text("a\n1\n")
    store = workspace.get_default_datastore()
    store.upload_files([str(tmp_path / "in.csv")], str(tmp_path), f"details-{experiment_name}", overwrite=True,
                       show_progress=False)
    (source_dir / "copy.py").write_text("import sys, os, shutil; os.makedirs(sys.argv[2], exist_ok=True); "
                                        "shutil.copy(sys.argv[1], sys.argv[2]); print('copied')\n")
    data = Dataset.File.from_files((store, f"details-{experiment_name}/in.csv")).as_named_input("raw")
    out = PipelineData("copied", datastore=store)
    step = PythonScriptStep(name="copy", script_name="copy.py", source_directory=str(source_dir),
                            arguments=[data, out], inputs=[data], outputs=[out], compute_target="cpu-cluster")
    experiment = Experiment(workspace, experiment_name)
    first = experiment.submit(Pipeline(workspace, [step]))
    first.wait_for_completion(show_output=False)
    details = first.find_step_run("copy")[0].get_details()
    assert details["target"] == "cpu-cluster" and details["properties"]["StepType"] == "PythonScriptStep"
    assert details["runDefinition"]["script"] == "copy.py"
    assert details["runDefinition"]["arguments"] == ["$AZUREML_DATAREFERENCE_raw", "$AZUREML_DATAREFERENCE_copied"]
    assert [d["consumptionDetails"]["inputName"] for d in details["inputDatasets"]] == ["raw"]
    assert [d["outputDetails"]["outputName"] for d in details["outputDatasets"]] == ["copied"]
    assert details["logFiles"]["logs/azureml/std_log.txt"] == f"logs/{first.id}/copy/std_log.txt"
    second = experiment.submit(Pipeline(workspace, [step]))
    second.wait_for_completion(show_output=False)
    reused = second.find_step_run("copy")[0]
    assert reused.is_reused and reused.get_details()["logFiles"] == details["logFiles"]
    assert "copied" in reused.get_job_log()  # the log of the run that did the work
    assert {"target", "logFiles", "runDefinition", "properties"} <= set(first.get_details())
