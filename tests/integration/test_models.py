"""The model registry (AML v1 ``Model``): versions, lookups, tags, downloads, and models inside steps.

A ParallelRunStep entry script loads a registered model with ``Model.get_model_path`` in
``init()`` and scores with it in ``run()``, as AML's batch-inference samples do; a script step
registers and reads models through its run context.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from pipeline_core import Pipeline, PythonScriptStep, Workspace
from pipeline_core.core import Model
from pipeline_core.core.dataset import Dataset
from pipeline_core.data import OutputFileDatasetConfig
from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import ModelNotFoundException, ModelPathNotFoundException
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep

pytestmark = pytest.mark.integration

SCORE = """
import argparse, os, pathlib
from pipeline_core.core import Run
from pipeline_core.core.model import Model

parser = argparse.ArgumentParser()
parser.add_argument("--model_name")
args, _ = parser.parse_known_args()

def init():
    global factor, version
    path = Model.get_model_path(args.model_name)  # one file: the path of that file
    factor = int(pathlib.Path(path).read_text().split("=")[1])
    version = Model(Run.get_context().experiment.workspace, args.model_name).version

def run(mini_batch):
    Run.get_context().log("batch_size", len(mini_batch))  # from every worker process
    return [f"{os.path.basename(p)} {int(pathlib.Path(p).read_text()) * factor} v{version}" for p in mini_batch]
"""

REGISTER_IN_STEP = """
import json, os, pathlib, sys, urllib.error, urllib.request
from pipeline_core.core import Run
from pipeline_core.core.model import Model
from pipeline_core.exceptions import ModelNotFoundException

name = sys.argv[1]
run = Run.get_context()
ws = run.experiment.workspace
folder = pathlib.Path("model_dir")
(folder / "sub").mkdir(parents=True)
(folder / "weights.txt").write_text("W")
(folder / "sub" / "config.json").write_text("{}")
registered = Model.register(workspace=ws, model_path="model_dir", model_name=name, tags={"kind": "folder"})
latest = Model(ws, name)
local = Model.get_model_path(name)  # a folder model: the folder
downloaded = latest.download(target_dir="dl", exist_ok=True)
latest.add_tags({"checked": "yes"})
try:
    Model(ws, name + "-missing")
    missing = "found"
except ModelNotFoundException:
    missing = "ModelNotFoundException"
try:
    ws.get_default_datastore()
    storage = "reachable"
except Exception as exc:
    storage = type(exc).__name__

# A hostile upload name, sent by hand: the host checks it itself.
base, token = os.environ["AMLITE_RUN_CONTEXT_URL"], os.environ["AMLITE_RUN_TOKEN"]
def call(method, path, body):
    request = urllib.request.Request(base + path, data=body, method=method,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
_, upload = call("POST", "/v1/models/uploads", json.dumps({"name": name, "root": "m"}).encode())
status, _ = call("PUT", f"/v1/models/uploads/{upload['upload_id']}?path=m%2F..%2F..%2Fx", b"x")
root_status, _ = call("POST", "/v1/models/uploads", json.dumps({"name": name, "root": "../up"}).encode())

print("MODELS", json.dumps({
    "registered": registered.id, "latest": latest.version, "tags": Model(ws, name).tags,
    "local_is_dir": os.path.isdir(local), "local_files": sorted(str(p.relative_to(local)) for p in
                                                                 pathlib.Path(local).rglob("*") if p.is_file()),
    "downloaded": sorted(str(p.relative_to(downloaded)) for p in pathlib.Path(downloaded).rglob("*") if p.is_file()),
    "listed": [m.id for m in Model.list(ws, name=name)], "missing": missing, "storage": storage,
    "hostile_upload": status, "hostile_root": root_status,
}))
"""


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_register_versions_lookup_tags_and_download(workspace: Workspace, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"m-{uuid.uuid4().hex[:8]}"
    file_model = _write(tmp_path, {"model.pkl": "ONE"}) / "model.pkl"
    folder_model = _write(tmp_path / "src", {"net/weights.bin": "W", "net/cfg/params.json": "{}"}) / "net"
    first = Model.register(workspace, model_path=str(file_model), model_name=name, tags={"stage": "dev"},
                           properties={"auc": 0.9}, description="first", model_framework="ScikitLearn")
    second = Model.register(workspace, str(folder_model), name, tags={"stage": "prod"})
    assert (first.id, first.version, second.id) == (f"{name}:1", 1, f"{name}:2")
    assert (first.properties, first.description, first.model_framework) == ({"auc": "0.9"}, "first", "ScikitLearn")

    assert Model(workspace, name).version == 2  # latest by default
    assert Model(workspace, name, version=1).tags == {"stage": "dev"}
    assert Model(workspace, id=f"{name}:1").description == "first"
    assert Model(workspace, name, tags=[["stage", "dev"]]).version == 1
    with pytest.raises(ModelNotFoundException, match="not registered"):
        Model(workspace, f"{name}-nope")
    with pytest.raises(ModelNotFoundException, match="versions: 1, 2"):
        Model(workspace, name, version=7)

    assert [m.version for m in Model.list(workspace, name=name)] == [2, 1]
    assert [m.version for m in Model.list(workspace, name=name, latest=True)] == [2]
    assert [m.version for m in Model.list(workspace, name=name, tags=["stage"], properties={"auc": "0.9"})] == [1]

    # get_model_path: the file for a one-file model, the folder otherwise (AML's rule).
    one = Path(Model.get_model_path(name, version=1, _workspace=workspace))
    assert one.name == "model.pkl" and one.read_text() == "ONE"
    two = Path(Model.get_model_path(name, _workspace=workspace))
    assert two.name == "net" and sorted(p.relative_to(two).as_posix() for p in two.rglob("*") if p.is_file()) == \
        ["cfg/params.json", "weights.bin"]

    target = tmp_path / "dl"
    assert Path(first.download(str(target))).read_text() == "ONE"
    with pytest.raises(AmliteError, match="exist_ok"):
        first.download(str(target))
    assert (Path(second.download(str(target), exist_ok=True)) / "weights.bin").read_text() == "W"

    first.add_tags({"reviewed": "yes"})
    first.add_properties({"rows": 10})
    first.remove_tags(["stage"])
    assert Model(workspace, name, version=1).tags == {"reviewed": "yes"}
    assert Model(workspace, name, version=1).properties == {"auc": "0.9", "rows": "10"}
    with pytest.raises(AmliteError, match="cannot be changed"):
        first.add_properties({"auc": "0.5"})
    payload = second.serialize()
    assert (payload["id"], payload["name"], payload["version"]) == (f"{name}:2", name, 2)
    assert Model.deserialize(workspace, payload).tags == {"stage": "prod"}

    with pytest.raises(AmliteError, match="model name"):
        Model.register(workspace, str(file_model), "no spaces allowed")
    with pytest.raises(ModelPathNotFoundException, match="does not exist"):
        Model.register(workspace, str(tmp_path / "absent.pkl"), name)

    # Outside a step and without a workspace: AML's ./azureml-models/{name}/{version}/ lookup.
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, {f"azureml-models/{name}/3/model.pkl": "LOCAL"})
    assert Path(Model.get_model_path(name)).read_text() == "LOCAL"
    with pytest.raises(ModelNotFoundException, match="_workspace"):
        Model.get_model_path(name, version=4)
    first.delete()
    assert [m.version for m in Model.list(workspace, name=name)] == [2]


def test_concurrent_registrations_get_distinct_versions(workspace: Workspace, tmp_path: Path) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}"
    path = _write(tmp_path, {"m.txt": "x"}) / "m.txt"
    versions: list[int] = []

    def register() -> None:
        versions.append(Model.register(workspace, str(path), name).version)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(versions) == [1, 2, 3, 4]


def test_parallel_run_step_init_loads_a_registered_model(workspace: Workspace, source_dir: Path, tmp_path: Path,
                                                         experiment_name: str) -> None:
    name = f"scorer-{uuid.uuid4().hex[:8]}"
    Model.register(workspace, str(_write(tmp_path, {"factor.txt": "FACTOR=2"}) / "factor.txt"), name)
    Model.register(workspace, str(_write(tmp_path / "v2", {"factor.txt": "FACTOR=3"}) / "factor.txt"), name)
    (source_dir / "score.py").write_text(SCORE)
    prefix = f"prs-models-{uuid.uuid4().hex[:8]}"
    data = _write(tmp_path / "data", {f"in/n{i}.txt": str(i) for i in range(5)})
    workspace.get_default_datastore().upload(str(data), target_path=prefix, show_progress=False)
    inputs = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    config = ParallelRunConfig(entry_script="score.py", source_directory=str(source_dir), mini_batch_size="2",
                               error_threshold=0, output_action="append_row", environment=None,
                               compute_target=None, node_count=1, process_count_per_node=2)
    step = ParallelRunStep("score", config, inputs=[inputs.as_named_input("numbers")],
                           output=OutputFileDatasetConfig("scores"), arguments=["--model_name", name],
                           allow_reuse=False)
    run = Pipeline(workspace, [step]).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=90, raise_on_error=False) == "Finished", \
        run.find_step_run("score")[0].get_job_log()
    ref = run.find_step_run("score")[0].get_output_data("scores")
    lines = run._services.container_for(ref.datastore_name).download_blob(
        f"{ref.path_on_datastore}/parallel_run_step.txt").readall().decode().splitlines()
    assert sorted(lines) == [f"n{i}.txt {i * 3} v2" for i in range(5)]  # the latest version, loaded in init()
    sizes = run.find_step_run("score")[0].get_metrics()["batch_size"]
    assert sorted(sizes if isinstance(sizes, list) else [sizes]) == [1, 2, 2]  # no worker's values overwritten


def test_a_script_step_registers_and_reads_models_through_its_run_context(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    name = f"in-step-{uuid.uuid4().hex[:8]}"
    (source_dir / "register.py").write_text(REGISTER_IN_STEP)
    step = PythonScriptStep("register.py", name="register", source_directory=str(source_dir), arguments=[name],
                            allow_reuse=False)
    run = Pipeline(workspace, [step]).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False) == "Finished", \
        run.find_step_run("register")[0].get_job_log()
    log = run.find_step_run("register")[0].get_job_log()
    seen = json.loads(next(line for line in log.splitlines() if "MODELS " in line).split("MODELS ", 1)[1])
    assert seen == {
        "registered": f"{name}:1", "latest": 1, "tags": {"kind": "folder", "checked": "yes"},
        "local_is_dir": True, "local_files": ["sub/config.json", "weights.txt"],
        "downloaded": ["sub/config.json", "weights.txt"], "listed": [f"{name}:1"],
        "missing": "ModelNotFoundException", "storage": "AmliteError",  # a step holds no storage credential
        "hostile_upload": 400, "hostile_root": 400}
    model = Model(workspace, name)
    assert model.run_id == f"{run.id}_register" and model.experiment_name == experiment_name
