"""DatabricksStep's SDK surface, its spec entry and checks, and where a step finds its workspace and credential."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from pipeline_core import PipelineData, PipelineParameter
from pipeline_core.application.spec_check import check_spec_document
from pipeline_core.core.databricks import EggLibrary, JarLibrary, MavenLibrary, PyPiLibrary, RCranLibrary
from pipeline_core.databricks.settings import (
    DatabricksSettings,
    connection_for,
    forget_attached,
    remember_attached,
)
from pipeline_core.databricks.step import check_databricks
from pipeline_core.engine.step_kinds import Orchestration, orchestrators_for, step_kind
from pipeline_core.errors import AmliteError
from pipeline_core.pipeline.steps import DatabricksStep
from pipeline_core.spec import PipelineSpec, build_spec
from pipeline_core.validation import validate_spec

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type": "Standard_DS3_v2"}


@pytest.fixture(autouse=True)
def _no_attached() -> Iterator[None]:
    yield
    for name in ("dbx", "other"):
        forget_attached(name)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"existing_cluster_id": "c"}, "exactly one of notebook_path, python_script_path, python_script_name and "
                                   "main_class_name"),
    ({"notebook_path": "/n", "python_script_path": "dbfs:/x.py", "existing_cluster_id": "c"}, "got notebook_path, "
                                                                                              "python_script_path"),
    ({"notebook_path": "/n"}, "give existing_cluster_id, or spark_version"),
    ({"notebook_path": "/n", "existing_cluster_id": "c", **CLUSTER, "num_workers": 1}, "not both"),
    ({"notebook_path": "/n", "spark_version": "15.4.x-scala2.12", "num_workers": 1}, "node_type or instance_pool_id"),
    ({"notebook_path": "/n", **CLUSTER}, "needs num_workers"),
    ({"notebook_path": "/n", **CLUSTER, "num_workers": 2, "min_workers": 1}, "autoscale needs both"),
    ({"main_class_name": "org.App", "existing_cluster_id": "c"}, "needs the JAR that holds it"),
    ({"notebook_path": "/n", "existing_cluster_id": "c", "pypi_libraries": ["pandas"]}, "pypi_libraries holds 'pandas'"),
    ({"notebook_path": "/n", "existing_cluster_id": "c", "python_script_params": ["x"]}, "go with python_script_path"),
    ({"notebook_path": "/n", "existing_cluster_id": "c", "timeout_seconds": -1}, "timeout_seconds must be"),
    ({"python_script_name": "train.py", "existing_cluster_id": "c"}, "python_script_name needs source_directory"),
])
def test_mistakes_are_refused_at_construction_naming_the_argument(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        DatabricksStep("prep", **kwargs)  # type: ignore[arg-type]
    assert "'prep'" in str(caught.value)


def test_the_spec_entry_carries_the_task_with_parameters_as_tokens_and_a_polled_kind() -> None:
    day = PipelineParameter("day", default_value="mon")
    out = PipelineData("out")
    step = DatabricksStep("prep", outputs=[out], python_script_path="dbfs:/s.py", python_script_params=["--day", day],
                          min_workers=1, max_workers=4, spark_conf={"a": "b"}, init_scripts=["dbfs:/init.sh"],
                          cluster_log_dbfs_path="dbfs:/logs", timeout_seconds=600, compute_target="dbx", **CLUSTER,
                          pypi_libraries=[PyPiLibrary("lightgbm", repo="https://pkgs")],
                          maven_libraries=[MavenLibrary("g:a:1", exclusions=["x:y"])],
                          egg_libraries=[EggLibrary("dbfs:/e.egg")], jar_libraries=[JarLibrary("dbfs:/j.jar")],
                          rcran_libraries=[RCranLibrary("forecast")])
    spec = build_spec([step])
    entry = spec.step("prep")
    task = entry["databricks"]["task"]  # type: ignore[typeddict-item]
    assert entry["databricks"]["compute"] == "dbx" and entry["databricks"]["host"] is None  # type: ignore[typeddict-item]
    assert task["python_script_params"] == [{"lit": "--day"}, {"param": "day"}]
    assert task["new_cluster"] == {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2",
                                   "spark_conf": {"a": "b"}, "autoscale": {"min_workers": 1, "max_workers": 4},
                                   "init_scripts": [{"dbfs": {"destination": "dbfs:/init.sh"}}],
                                   "cluster_log_conf": {"dbfs": {"destination": "dbfs:/logs"}}}
    assert task["libraries"] == [{"maven": {"coordinates": "g:a:1", "exclusions": ["x:y"]}},
                                 {"pypi": {"package": "lightgbm", "repo": "https://pkgs"}}, {"egg": "dbfs:/e.egg"},
                                 {"jar": "dbfs:/j.jar"}, {"cran": {"package": "forecast"}}]
    assert task["timeout_seconds"] == 600 and "script_name" not in entry
    assert validate_spec(spec) == [] and check_spec_document(spec.doc) == []
    assert step_kind("DatabricksStep").orchestration is Orchestration.POLL
    assert orchestrators_for(spec.steps) == {"prep": "poll_step"}


def test_a_posted_entry_that_is_not_a_databricks_task_is_refused_naming_the_field() -> None:
    spec = build_spec([DatabricksStep("prep", notebook_path="/n", existing_cluster_id="c")])
    doc = copy.deepcopy(spec.doc)
    doc["steps"][0]["databricks"]["task"]["new_cluster"] = {"spark_version": "x"}
    problems = validate_spec(PipelineSpec(doc))  # what publish, submit and a posted spec's 400 ask
    assert any("exactly one of existing_cluster_id and new_cluster" in p and p.target.endswith("databricks.task")
               for p in problems), problems
    assert check_databricks({"databricks": {"task": {}, "host": "file:///etc/passwd"}})[0][0] == "databricks.host"
    assert check_databricks({"name": "x"}) == [("databricks", check_databricks({})[0][1])]


def test_a_compute_attached_here_keeps_its_token_in_this_process_only() -> None:
    from pipeline_core.core.compute import ComputeTarget, DatabricksCompute

    config = DatabricksCompute.attach_configuration(resource_group="rg", workspace_name="w", access_token="dapi-secret",
                                                    workspace_url="https://adb-1.1.azuredatabricks.net/")
    target = ComputeTarget.attach(None, "dbx", config)
    assert "dapi-secret" not in str(target.serialize())
    assert connection_for("dbx", target.workspace_url, {}).token == "dapi-secret"  # type: ignore[attr-defined]
    spec = build_spec([DatabricksStep("prep", notebook_path="/n", existing_cluster_id="c", compute_target=target)])
    assert "dapi-secret" not in str(spec.doc)
    with pytest.raises(ValueError, match="not a URL"):
        DatabricksCompute.attach_configuration(workspace_url="adb-1.azuredatabricks.net")


def test_app_settings_connect_a_compute_and_their_credential_goes_only_to_their_host() -> None:
    env = {"AMLITE_DATABRICKS_HOST": "https://adb-1.1.azuredatabricks.net", "AMLITE_DATABRICKS_TOKEN": "all",
           "AMLITE_DATABRICKS_HOST_OTHER": "https://adb-2.2.azuredatabricks.net"}
    default = connection_for("dbx", None, env)
    assert (default.host, default.token) == ("https://adb-1.1.azuredatabricks.net", "all")
    other = connection_for("other", "https://ADB-2.2.azuredatabricks.net/", env)
    assert other.token == "all" and "Entra" not in other.source
    entra = connection_for("other", None, {"AMLITE_DATABRICKS_HOST_OTHER": "https://adb-2.2.azuredatabricks.net"})
    assert entra.token is None and "Entra ID" in entra.source
    with pytest.raises(AmliteError, match="credentials go only to the workspace its settings name"):
        connection_for("dbx", "https://evil.example.net", env)
    with pytest.raises(AmliteError, match=r"AMLITE_DATABRICKS_HOST_MY_DBX.*attach_configuration"):
        connection_for("my-dbx", None, {})
    remember_attached("dbx", "https://adb-9.9.azuredatabricks.net", "mine")
    assert connection_for("dbx", None, env).token == "mine"  # the driver's own compute, for its local runs


def test_poll_settings_are_read_and_checked() -> None:
    settings = DatabricksSettings.from_env({"AMLITE_DATABRICKS_POLL_FIRST_SECONDS": "2",
                                            "AMLITE_DATABRICKS_POLL_MAX_SECONDS": "30"})
    assert (settings.poll_first_seconds, settings.poll_max_seconds, settings.problems) == (2.0, 30.0, ())
    bad = DatabricksSettings.from_env({"AMLITE_DATABRICKS_POLL_MAX_SECONDS": "soon"})
    assert bad.poll_max_seconds == 60.0 and "AMLITE_DATABRICKS_POLL_MAX_SECONDS='soon'" in bad.problems[0]
