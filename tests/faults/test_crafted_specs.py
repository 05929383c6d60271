"""Crafted pipeline specs: refused with a 400 naming the field at submit and publish, and again by the executor.

A caller with the Submit role may post a whole spec (``POST /api/runs``), and one
with the Publish role may publish one (``POST /api/pipelines``). Each case below
starts from the spec the SDK builds for a real one-step pipeline (its snapshot
uploaded) and changes one thing, as a hand-edited spec would. Over real
sockets to the dev host, every case must answer 400 with the house error shape
and never start a run. Then the same crafted specs are stored as runs behind
the service's back: the executor must fail the step with a clear reason and
never run its code.
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from amlite_local.host import DevHost
from pipeline_core import Experiment, Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace
from pipeline_core.engine.services import Services, services_for
from pipeline_core.engine.submit import upload_spec_and_snapshots
from pipeline_core.execution.snapshot import SNAPSHOT_CONTAINER
from pipeline_core.rest.api import ServiceRequest, handle, route_for

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK = """
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--greeting"); p.add_argument("--out")
a = p.parse_args()
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.out, "greeting.txt").write_text(a.greeting)
"""


@pytest.fixture(scope="module")
def host(azurite: str) -> Iterator[str]:
    """The repo's Functions app on a free loopback port (auth none), as tests/http does."""
    names = ("AMLITE_STORAGE", "AzureWebJobsStorage", "AMLITE_AUTH")
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update({"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none"})
    dev = DevHost(REPO_ROOT, "127.0.0.1", 0, enable_timers=False, enable_blob_triggers=False, load_settings=False)
    try:
        dev.start()
        yield dev.base_url
    finally:
        dev.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where crafted code would leave a mark if it ever ran."""
    return tmp_path_factory.mktemp("marks")


@pytest.fixture(scope="module")
def base_spec(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The spec the SDK builds for a sound one-step pipeline, its snapshot uploaded."""
    ws = Workspace(storage=azurite)
    src = tmp_path_factory.mktemp("src")
    (src / "work.py").write_text(WORK)
    out = PipelineData("result", datastore=ws.get_default_datastore())
    step = PythonScriptStep("work.py", name="work", source_directory=str(src), outputs=[out], allow_reuse=False,
                            arguments=["--greeting", PipelineParameter("greeting", "hi"), "--out", out])
    spec = Pipeline(ws, [step]).spec()
    upload_spec_and_snapshots(services_for(azurite), spec)
    doc: dict[str, Any] = json.loads(spec.to_json())
    return doc


def _evil_script(marker_dir: Path) -> Path:
    evil = marker_dir / "evil.py"
    evil.write_text(f"import pathlib\npathlib.Path({str(marker_dir / 'ran')!r}).write_text('ran')\n")
    return evil


def _rename_data(doc: dict[str, Any], old: str, new: str) -> None:
    doc["data"][new] = doc["data"].pop(old)
    step = doc["steps"][0]
    step["outputs"] = [new if d == old else d for d in step["outputs"]]
    step["arguments"] = [{"data": new} if t == {"data": old} else t for t in step["arguments"]]


def _hostile_snapshot(azurite: str) -> str:
    """A snapshot zip uploaded straight to storage (as any Submit caller's SDK does) with a climbing entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("work.py", WORK)
        archive.writestr("../../../escaped.py", "print('out')\n")
    snapshot = uuid.uuid4().hex * 2
    services_for(azurite).account.container(SNAPSHOT_CONTAINER).upload_blob(f"{snapshot}.zip", buffer.getvalue())
    return snapshot


Craft = Callable[[dict[str, Any], Path, str], None]


def _script(value: Callable[[Path], str]) -> Craft:
    def craft(doc: dict[str, Any], marks: Path, azurite: str) -> None:
        doc["steps"][0]["script_name"] = value(marks)
    return craft


def _dash_c(doc: dict[str, Any], marks: Path, azurite: str) -> None:
    doc["steps"][0]["script_name"] = "-c"
    doc["steps"][0]["arguments"].insert(0, {"lit": f"open({str(marks / 'ran')!r}, 'w').write('ran')"})


def _set(path: tuple[Any, ...], value: Any) -> Craft:
    def craft(doc: dict[str, Any], marks: Path, azurite: str) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return craft


def _fixed_destination(doc: dict[str, Any], marks: Path, azurite: str) -> None:
    doc["data"]["result"].update({"kind": "output", "datastore": "workspaceblobstore", "path": "../../outside"})


def _parallel_without_config(doc: dict[str, Any], marks: Path, azurite: str) -> None:
    doc["steps"][0]["type"] = "ParallelRunStep"


def _step_name(doc: dict[str, Any], marks: Path, azurite: str) -> None:
    doc["steps"][0]["name"] = "../../steps"
    doc["data"]["result"]["producer"] = "../../steps"


def _zip_entry(doc: dict[str, Any], marks: Path, azurite: str) -> None:
    doc["steps"][0]["snapshot"] = _hostile_snapshot(azurite)


#: id -> (how to craft the spec, a fragment the 400's message must hold, the field its details must name)
CASES: dict[str, tuple[Craft, str, str]] = {
    "script_name -c <code>": (_dash_c, "option", ".script_name"),
    "script_name absolute": (_script(lambda marks: str(_evil_script(marks))), "absolute", ".script_name"),
    "script_name ../..": (_script(lambda marks: "../../evil.py"), "'..'", ".script_name"),
    "script_name not in snapshot": (_script(lambda marks: "missing.py"), "snapshot", ".script_name"),
    "data id ../": (lambda doc, marks, azurite: _rename_data(doc, "result", "../escape"), "invalid",
                    "data['../escape']"),
    "data id with NUL": (lambda doc, marks, azurite: _rename_data(doc, "result", "res\x00ult"), "NUL",
                         "data['res\\x00ult']"),
    "output datastore unregistered": (_set(("data", "result", "datastore"), "nosuchstore"), "nosuchstore",
                                      "data['result'].datastore"),
    "fixed destination ../..": (_fixed_destination, "'..'", "data['result'].path"),
    "ParallelRunStep without config": (_parallel_without_config, "parallel_run_config", ".parallel_run_config"),
    "parameter default NUL": (_set(("parameters", "greeting", "default"), "a\x00b"), "NUL",
                              "parameters.greeting.default"),
    "parameter default lone surrogate": (_set(("parameters", "greeting", "default"), "a\ud800b"), "surrogate",
                                         "parameters.greeting.default"),
    "argument NUL": (_set(("steps", 0, "arguments", 1), {"lit": "x\x00y"}), "NUL", "arguments[1].lit"),
    "step name ../..": (_step_name, "invalid", ".name"),
    "snapshot zip entry ../": (_zip_entry, "../../../escaped.py", ".snapshot"),
    "params name with =": (_set(("steps", 0, "params"), {"A=B": {"lit": "x"}}), "environment variable", ".params"),
    "snapshot hash ../": (_set(("steps", 0, "snapshot"), "../../../../tmp"), "snapshot", ".snapshot"),
}


def _crafted(base: dict[str, Any], case: str, marks: Path, azurite: str) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    CASES[case][0](doc, marks, azurite)
    return doc


def _refused(answer: requests.Response, fragment: str) -> dict[str, Any]:
    assert answer.status_code == 400, (answer.status_code, answer.text[:500])
    assert answer.headers["Content-Type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["details"]
    assert fragment in error["message"], error["message"]
    return error


@pytest.mark.parametrize("case", list(CASES))
def test_crafted_spec_is_refused_at_submit(case: str, host: str, base_spec: dict[str, Any], marker_dir: Path,
                                           azurite: str) -> None:
    doc = _crafted(base_spec, case, marker_dir, azurite)
    answer = requests.post(f"{host}/api/runs", json={"ExperimentName": "crafted", "PipelineSpec": doc}, timeout=30)
    error = _refused(answer, CASES[case][1])
    targets = [str(d.get("target", "")) for d in error["details"]]
    assert all(t.startswith("PipelineSpec") for t in targets), targets
    assert any(CASES[case][2] in t for t in targets), targets
    assert not (marker_dir / "ran").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_crafted_spec_is_refused_at_publish(case: str, host: str, base_spec: dict[str, Any], marker_dir: Path,
                                            azurite: str) -> None:
    doc = _crafted(base_spec, case, marker_dir, azurite)
    answer = requests.post(f"{host}/api/pipelines", json={"Name": f"crafted-{uuid.uuid4().hex[:6]}",
                                                          "PipelineSpec": doc}, timeout=30)
    _refused(answer, CASES[case][1])


def test_field_targets_name_the_crafted_field(host: str, base_spec: dict[str, Any], marker_dir: Path,
                                              azurite: str) -> None:
    doc = _crafted(base_spec, "script_name -c <code>", marker_dir, azurite)
    answer = requests.post(f"{host}/api/runs", json={"ExperimentName": "crafted", "PipelineSpec": doc}, timeout=30)
    error = _refused(answer, "script_name")
    assert error["code"] == "InvalidPipelineSpec"
    assert error["details"][0]["target"] == "PipelineSpec.steps[0] ('work').script_name"
    assert "option" in error["details"][0]["message"]


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800b"], ids=["NUL", "lone surrogate"])
def test_parameter_assignments_with_nul_or_lone_surrogate_are_400(value: str, host: str, base_spec: dict[str, Any],
                                                                   azurite: str) -> None:
    body = {"ExperimentName": "crafted", "PipelineSpec": base_spec, "ParameterAssignments": {"greeting": value}}
    error = _refused(requests.post(f"{host}/api/runs", json=body, timeout=30), "greeting")
    assert error["details"][0]["target"] == "ParameterAssignments.greeting"


@pytest.mark.parametrize(("extra", "target"), [
    ({"Tags": {"team": "a\x00"}}, "Tags.team"),
    ({"Tags": {"team": "a\ud800"}}, "Tags.team"),
    ({"Description": "d\x00"}, "Description"),
    ({"RunSource": "r\x00"}, "RunSource"),
], ids=["tag NUL", "tag lone surrogate", "description NUL", "run source NUL"])
def test_submit_text_fields_with_nul_or_lone_surrogate_are_400(extra: dict[str, Any], target: str, host: str,
                                                                base_spec: dict[str, Any]) -> None:
    body = {"ExperimentName": "crafted", "PipelineSpec": base_spec, **extra}
    answer = requests.post(f"{host}/api/runs", json=body, timeout=30)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["error"]["details"][0]["target"] == target


def test_sound_spec_still_runs(host: str, base_spec: dict[str, Any], azurite: str) -> None:
    """The checks refuse what is crafted, not what the SDK builds."""
    answer = requests.post(f"{host}/api/runs", json={"ExperimentName": "crafted-sound", "PipelineSpec": base_spec,
                                                     "ParameterAssignments": {"greeting": "bonjour"}}, timeout=30)
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["Id"]
    deadline = time.monotonic() + 60
    while (status := services_for(azurite).runs.get_run(run_id)["status"]) not in ("Finished", "Failed", "Canceled"):
        assert time.monotonic() < deadline, f"run {run_id} still {status}"
        time.sleep(0.1)
    assert status == "Finished"


def test_submit_to_a_published_pipeline_refuses_nul_parameters(azurite: str, base_spec: dict[str, Any]) -> None:
    """The service handler directly (as tests/integration/test_service.py calls it)."""
    services = services_for(azurite)
    published = handle(services, route_for("publishPipeline"), _request({
        "Name": f"sound-{uuid.uuid4().hex[:6]}", "PipelineSpec": base_spec}))
    assert published.status == 201, published.body
    answer = handle(services, route_for("submitPipelineRun"), _request(
        {"ExperimentName": "crafted", "ParameterAssignments": {"greeting": "x\x00"}},
        {"pipeline_id": published.body["Id"]}))
    assert answer.status == 400 and "NUL" in answer.body["error"]["message"]
    assert answer.body["error"]["details"][0]["target"] == "ParameterAssignments.greeting"


def _request(body: dict[str, Any], route: dict[str, str] | None = None) -> ServiceRequest:
    return ServiceRequest(route_params=route or {}, query={}, headers={}, body=json.dumps(body).encode(),
                          base_url="https://amlite.example.net")


# -- the executor's own check --------------------------------------------------------------------
RUN_TIME_CASES = ["script_name -c <code>", "script_name absolute", "script_name ../..", "data id ../",
                  "ParallelRunStep without config", "fixed destination ../..", "params name with =",
                  "snapshot hash ../"]


def _run_behind_the_service(services: Services, ws: Workspace, doc: dict[str, Any],
                            parameters: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Store a run of ``doc`` without any of the submit checks (as a tampered table or spec blob would) and run it."""
    from pipeline_core.engine.launch import launch_run
    from pipeline_core.pipeline.core.run import PipelineRun
    from pipeline_core.spec import PipelineSpec

    spec = PipelineSpec({k: v for k, v in doc.items() if k != "graph_id"})
    container = services.account.container(SNAPSHOT_CONTAINER)
    container.upload_blob(f"specs/{spec.graph_id}.json", spec.to_json().encode(), overwrite=True)
    run_id = str(uuid.uuid4())
    services.runs.create_run(run_id, "crafted-runtime", {
        "graph_id": spec.graph_id, "pipeline_id": "", "parameters": parameters or {"greeting": "hi"},
        "regenerate_outputs": False, "continue_on_step_failure": False, "description": "", "tags": {},
        "run_source": "test"}, [(s["name"], {"step_type": s["type"], "recorded": {}}) for s in spec.steps])
    launch_run(services, run_id)
    run = PipelineRun(Experiment(ws, "crafted-runtime"), run_id)
    status = run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False)
    assert services.runs.get_run(run_id)["status"] == status
    (step,) = services.runs.get_state(run_id).steps.values()
    return status, step


@pytest.mark.parametrize("case", RUN_TIME_CASES)
def test_executor_refuses_a_crafted_spec_that_got_past_submit(case: str, azurite: str, base_spec: dict[str, Any],
                                                              marker_dir: Path) -> None:
    services = services_for(azurite)
    doc = _crafted(base_spec, case, marker_dir, azurite)
    status, step = _run_behind_the_service(services, Workspace(storage=azurite), doc)
    assert status == "Failed"
    assert step["status"] == "Failed" and "refused to run" in step["error"]["message"], step["error"]
    assert not (marker_dir / "ran").exists(), "the crafted code ran"


@pytest.mark.parametrize("parameters", [
    {"greeting": "a\x00b"}, {"greeting": "a\ud800b"},
    {"greeting": "hi", "data": {"datastore": "workspaceblobstore", "path": "in/../../x"}},
], ids=["NUL", "lone surrogate", "DataPath ../"])
def test_executor_refuses_parameters_that_are_not_text_or_climb(parameters: dict[str, Any], azurite: str,
                                                                base_spec: dict[str, Any]) -> None:
    status, step = _run_behind_the_service(services_for(azurite), Workspace(storage=azurite), base_spec, parameters)
    assert status == "Failed"
    assert "refused to run" in step["error"]["message"] and repr(list(parameters)[-1]) in step["error"]["message"]


# -- the SDK asks the same questions -------------------------------------------------------------
def test_sdk_validation_refuses_the_same_specs(workspace: Workspace, tmp_path: Path) -> None:
    """``Pipeline.validate()`` (run by submit and publish) refuses what the service refuses, with the same words."""
    from pipeline_core import DataReference, OutputFileDatasetConfig

    src = tmp_path / "src"
    src.mkdir()
    (src / "work.py").write_text(WORK)
    (tmp_path / "outside.py").write_text("print('outside')\n")
    store = workspace.get_default_datastore()

    def problems(**kwargs: Any) -> str:
        step = PythonScriptStep(kwargs.pop("script_name", "work.py"), name="work", source_directory=str(src),
                                **kwargs)
        return "\n".join(Pipeline(workspace, [step]).validate())

    assert "option" in problems(script_name="-c", arguments=["print(1)"])
    assert "absolute" in problems(script_name=str(tmp_path / "outside.py"))
    assert "'..'" in problems(script_name="../outside.py")
    assert "'..'" in problems(arguments=[OutputFileDatasetConfig("out", destination=(store, "../../x"))])
    assert "NUL" in problems(arguments=["--greeting", "a\x00b"])
    assert "'/'" in problems(arguments=[DataReference(store, data_reference_name="a/b", path_on_datastore="x")])
    unregistered = problems(arguments=[PipelineData("out", datastore="nosuchstore")])
    assert "output 'out': datastore 'nosuchstore'" in unregistered
    ignored = src / ".amlignore"
    ignored.write_text("work.py\n")
    assert "was not found in source_directory's snapshot" in problems()
    ignored.unlink()
    assert problems() == ""
    from pipeline_core import DataPath, DataPathComputeBinding
    from pipeline_core.engine.submit import ParameterError

    data = PipelineParameter("data", DataPath(datastore=store, path_on_datastore="in"))
    data_in = (data, DataPathComputeBinding(mode="mount"))
    pipeline = Pipeline(workspace, [PythonScriptStep(
        "work.py", name="work", source_directory=str(src), inputs=[data_in],
        arguments=["--greeting", PipelineParameter("greeting", "hi"), "--data", data_in])])
    with pytest.raises(ParameterError, match="'greeting' holds a NUL"):
        Experiment(workspace, "crafted-sdk").submit(pipeline, pipeline_parameters={"greeting": "a\x00b"})
    with pytest.raises(ParameterError, match="'data': DataPath path 'a/../../x' has a '..' segment"):
        Experiment(workspace, "crafted-sdk").submit(
            pipeline, pipeline_parameters={"data": DataPath(datastore=store, path_on_datastore="a/../../x")})


def test_parallel_run_step_append_row_file_name_must_be_a_file_name(tmp_path: Path) -> None:
    """The append_row file becomes a blob name inside the step's output; a path there would climb out of it.
    ``ParallelRunConfig`` refuses one; a posted spec is refused by the same ``validate_spec`` the service runs."""
    from pipeline_core import Dataset, OutputFileDatasetConfig, ParallelRunConfig, ParallelRunStep
    from pipeline_core.spec import PipelineSpec
    from pipeline_core.validation import validate_spec

    (tmp_path / "score.py").write_text("def init():\n    pass\n\ndef run(batch):\n    return batch\n")
    settings: dict[str, Any] = {"entry_script": "score.py", "source_directory": str(tmp_path), "error_threshold": 5,
                                "output_action": "append_row", "environment": None, "compute_target": None,
                                "node_count": 1}
    with pytest.raises(ValueError, match="append_row_file_name"):
        ParallelRunConfig(**settings, append_row_file_name="../../x.txt")
    files = Dataset.File.from_files(("workspaceblobstore", "images/**"))
    step = ParallelRunStep("score", ParallelRunConfig(**settings), inputs=[files.as_named_input("images")],
                           output=OutputFileDatasetConfig("scores"))
    doc = json.loads(Pipeline(Workspace(storage="UseDevelopmentStorage=true"), [step]).spec().to_json())
    assert validate_spec(PipelineSpec(doc)) == []
    doc["steps"][0]["parallel_run_config"]["values"]["append_row_file_name"] = "../../x.txt"
    (problem,) = validate_spec(PipelineSpec(doc))
    assert "append_row_file_name '../../x.txt'" in problem
    assert problem.target == "PipelineSpec.steps[0] ('score').parallel_run_config.values.append_row_file_name"
