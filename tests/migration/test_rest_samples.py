"""The samples' REST cells: POST the published pipeline's (or endpoint's) URL with AML's body.

The workspace names the app (as a deployed user's config.json does); the app runs with
AMLITE_AUTH=none here, so the samples' InteractiveLoginAuthentication header is left out (it
needs an Entra ID sign-in, which this machine cannot reach).
"""

from __future__ import annotations

from pathlib import Path

import requests
from migration_support import MIGRATION, finished, step_log, write

from pipeline_core.core import Dataset, Experiment, Workspace
from pipeline_core.data import OutputFileDatasetConfig
from pipeline_core.data.datapath import DataPath, DataPathComputeBinding
from pipeline_core.pipeline.core import Pipeline, PipelineEndpoint, PipelineParameter, PublishedPipeline
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.pipeline.steps import PythonScriptStep

pytestmark = MIGRATION

STAGE = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--input", action="append", default=[])
parser.add_argument("--output")
parser.add_argument("--pipeline_param", type=int)
args = parser.parse_args()
print("inputs:", args.input, "param:", args.pipeline_param)
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "out.txt"), "w") as f:
    f.write("done")
"""


def _post(url: str, body: dict) -> str:
    response = requests.post(url, headers={}, json=body, timeout=30)
    response.raise_for_status()
    return str(response.json().get("Id"))


def test_publish_and_run_using_rest_endpoint(remote_workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-publish-and-run-using-rest-endpoint: OutputFileDatasetConfig chain, publish twice, POST."""
    ws = remote_workspace
    write(tmp_path, "stage.py", STAGE)
    store = ws.get_default_datastore()
    store.upload(str(write(tmp_path / "data", "part.csv", "a\n1\n").parent), f"rest-{unique}", overwrite=True)
    source = Dataset.File.from_files((store, f"rest-{unique}")).as_named_input("test_data")
    data1, data2, data3 = (OutputFileDatasetConfig(name=f"processed_data{i}") for i in (1, 2, 3))
    param = PipelineParameter(name="pipeline_arg", default_value=10)
    train = PythonScriptStep(name="train", script_name="stage.py", source_directory=str(tmp_path),
                             arguments=["--input", source.as_mount(), "--output", data1])
    extract = PythonScriptStep(name="extract", script_name="stage.py", source_directory=str(tmp_path),
                               arguments=["--input", data1.as_input(), "--output", data2])
    compare = PythonScriptStep(name="compare", script_name="stage.py", source_directory=str(tmp_path),
                               arguments=["--input", data1.as_input(), "--input", data2.as_input(), "--output", data3,
                                          "--pipeline_param", param])
    pipeline = Pipeline(workspace=ws, steps=[compare])

    published = pipeline.publish(name=f"My_New_Pipeline-{unique}", description="d", continue_on_step_failure=True)
    run = Experiment(ws, f"rest-exp-{unique}").submit(pipeline)
    from_run = run.publish_pipeline(name=f"My_New_Pipeline2-{unique}", description="d", version="0.1",
                                    continue_on_step_failure=True)
    assert from_run.version == "0.1"
    assert PublishedPipeline.get(ws, published.id).endpoint == published.endpoint
    finished(run)

    run_id = _post(published.endpoint, {"ExperimentName": f"My_Pipeline1-{unique}", "RunSource": "SDK",
                                        "ParameterAssignments": {"pipeline_arg": 45}})
    rest_run = finished(PipelineRun(ws.experiments[f"My_Pipeline1-{unique}"], run_id))
    assert {s.name for s in rest_run.get_steps()} == {train.name, extract.name, "compare"}
    assert "param: 45" in step_log(rest_run, "compare")


def test_datapath_assignments_over_rest(remote_workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-showcasing-datapath-and-pipelineparameter: DataPathAssignments in the REST body."""
    ws = remote_workspace
    store = ws.get_default_datastore()
    for folder in ("one", "three"):
        write(tmp_path / folder, f"{folder}.txt", folder)
        store.upload(str(tmp_path / folder), f"rdp-{unique}/{folder}", overwrite=True)
    write(tmp_path / "src", "train.py", """
        import argparse, os
        p = argparse.ArgumentParser(); p.add_argument("--arg1"); p.add_argument("--arg2")
        a = p.parse_args()
        print("string:", a.arg1, "files:", sorted(os.listdir(a.arg2)))
    """)
    path_input = (PipelineParameter(name="input_datapath",
                                    default_value=DataPath(datastore=store, path_on_datastore=f"rdp-{unique}/one")),
                  DataPathComputeBinding(mode="mount"))
    string = PipelineParameter(name="input_string", default_value="sample_string1")
    step = PythonScriptStep(name="train_step", script_name="train.py", source_directory=str(tmp_path / "src"),
                            arguments=["--arg1", string, "--arg2", path_input], inputs=[path_input])
    published = Pipeline(workspace=ws, steps=[step]).publish(name=f"DataPath_Pipeline-{unique}", description="d",
                                                              continue_on_step_failure=True)
    run_id = _post(published.endpoint, {
        "ExperimentName": f"MyRestPipeline-{unique}", "RunSource": "SDK",
        "DataPathAssignments": {"input_datapath": {"DataStoreName": store.name, "RelativePath": f"rdp-{unique}/three"}},
        "ParameterAssignments": {"input_string": "sample_string3"}})
    run = finished(PipelineRun(ws.experiments[f"MyRestPipeline-{unique}"], run_id))
    assert "string: sample_string3 files: ['three.txt']" in step_log(run, "train_step")


def test_undeclared_parameter_assignments_run_anyway(remote_workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """tutorial-pipeline-batch-scoring-classification (and the endpoint sample): a body with parameters the pipeline
    never declared still runs, as on AML."""
    ws = remote_workspace
    write(tmp_path, "score.py", 'print("scored")\n')
    pipeline = Pipeline(workspace=ws, steps=[PythonScriptStep(name="score", script_name="score.py",
                                                              source_directory=str(tmp_path))])
    published = pipeline.publish(name=f"Inception_v3_scoring-{unique}", description="d")
    run_id = _post(published.endpoint, {"ExperimentName": f"Tutorial-Batch-Scoring-{unique}",
                                        "ParameterAssignments": {"process_count_per_node": 6}})
    run = finished(PipelineRun(ws.experiments[f"Tutorial-Batch-Scoring-{unique}"], run_id))
    assert "scored" in step_log(run, "score")


def test_submit_pipeline_endpoint_by_name(remote_workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-setup-versioned-pipeline-endpoints: the by-name URL is built from the by-id one."""
    ws = remote_workspace
    write(tmp_path, "train.py", 'print("by name")\n')
    pipeline = Pipeline(workspace=ws, steps=[PythonScriptStep(name="Training_Step", script_name="train.py",
                                                              source_directory=str(tmp_path))])
    endpoint = PipelineEndpoint.publish(workspace=ws, name=f"byname-{unique}", pipeline=pipeline, description="d")
    by_name = endpoint.endpoint.split("Id", 1)[0] + "Name?name=" + endpoint.name + "&pipelineVersion=0"
    run_id = _post(by_name, {"ExperimentName": f"default_pipeline-{unique}", "RunSource": "SDK"})
    run = finished(PipelineRun(ws.experiments[f"default_pipeline-{unique}"], run_id))
    assert "by name" in step_log(run, "Training_Step")
