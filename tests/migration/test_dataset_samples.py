"""The samples' dataset patterns: datasets as step inputs, as pipeline parameters, from web URLs, in the run context."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from migration_support import MIGRATION, finished, step_log, write

from pipeline_core.core import Dataset, Experiment, Workspace
from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig
from pipeline_core.pipeline.core import Pipeline, PipelineParameter
from pipeline_core.pipeline.steps import PythonScriptStep

pytestmark = MIGRATION

#: reads its inputs the AML way: through the run context, by the names given with as_named_input
READ_BY_NAME = """
import os
from pipeline_core.core import Run
inputs = Run.get_context().input_datasets
file_path = inputs["file_dataset"]
if os.path.isdir(file_path):
    print("file input is a folder:", sorted(os.listdir(file_path)))
else:
    print("file input:", open(file_path).read().strip().splitlines()[0])
"""


@pytest.fixture
def titanic(workspace: Workspace, tmp_path: Path, unique: str) -> tuple:
    """One CSV file on the default datastore, as the samples upload Titanic.csv."""
    store = workspace.get_default_datastore()
    csv = write(tmp_path / "data", "Titanic.csv", "PassengerId,Survived\n1,0\n2,1\n")
    store.upload_files([str(csv)], target_path=f"titanic-{unique}", overwrite=True)
    return store, f"titanic-{unique}/Titanic.csv"


def test_named_file_dataset_mounted_and_read_through_the_run_context(workspace: Workspace, tmp_path: Path,
                                                                     unique: str, titanic: tuple) -> None:
    """aml-pipelines-showcasing-dataset-and-pipelineparameter, without the parameter: a folder dataset, read by name."""
    store, _ = titanic
    write(tmp_path / "src", "train_with_dataset.py", READ_BY_NAME)
    folder = Dataset.File.from_files((store, f"titanic-{unique}"))
    step = PythonScriptStep(name="train_step", script_name="train_with_dataset.py", source_directory=str(tmp_path / "src"),
                            arguments=["--param1", folder.as_named_input("file_dataset").as_mount()])
    run = finished(Experiment(workspace, f"named-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    assert "file input is a folder: ['Titanic.csv']" in step_log(run, "train_step")


def test_single_file_dataset_mount_is_the_file(workspace: Workspace, tmp_path: Path, unique: str, titanic: tuple) -> None:
    """aml-pipelines-publish-and-run-using-rest-endpoint: train.py opens its --input_data argument as a file."""
    store, path = titanic
    write(tmp_path / "src", "train_with_dataset.py", READ_BY_NAME)
    one_file = Dataset.File.from_files((store, path)).as_named_input("file_dataset")
    step = PythonScriptStep(name="train_step", script_name="train_with_dataset.py", source_directory=str(tmp_path / "src"),
                            arguments=["--input_data", one_file.as_mount()])
    run = finished(Experiment(workspace, f"onefile-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    assert "file input: PassengerId,Survived" in step_log(run, "train_step")


def test_tabular_input_read_with_to_pandas_dataframe(workspace: Workspace, tmp_path: Path, unique: str,
                                                     titanic: tuple) -> None:
    """aml-pipelines-showcasing-dataset-and-pipelineparameter and the NYC taxi scripts."""
    store, path = titanic
    write(tmp_path / "src", "read.py", """
        from pipeline_core.core import Run
        df = Run.get_context().input_datasets["tabular_dataset"].to_pandas_dataframe()
        print("rows:", len(df), "columns:", list(df.columns))
    """)
    tabular = Dataset.Tabular.from_delimited_files((store, path)).as_named_input("tabular_dataset")
    step = PythonScriptStep(name="read", script_name="read.py", source_directory=str(tmp_path / "src"), inputs=[tabular])
    run = finished(Experiment(workspace, f"tab-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    assert "rows: 2 columns: ['PassengerId', 'Survived']" in step_log(run, "read")


def test_dataset_as_pipeline_parameter(workspace: Workspace, tmp_path: Path, unique: str, titanic: tuple) -> None:
    """aml-pipelines-showcasing-dataset-and-pipelineparameter and file-dataset-image-inference-mnist."""
    store, path = titanic
    other = write(tmp_path / "data2", "iris.csv", "sepal.length\n5.1\n")
    store.upload_files([str(other)], target_path=f"iris-{unique}", overwrite=True)
    write(tmp_path / "src", "train_with_dataset.py", READ_BY_NAME)
    param = PipelineParameter(name="file_ds_param", default_value=Dataset.File.from_files((store, f"titanic-{unique}")))
    consumption = DatasetConsumptionConfig("file_dataset", param).as_mount()
    step = PythonScriptStep(name="train_step", script_name="train_with_dataset.py", source_directory=str(tmp_path / "src"),
                            arguments=["--param1", consumption], inputs=[consumption])
    pipeline = Pipeline(workspace=workspace, steps=[step])
    experiment = Experiment(workspace, f"dsparam-{unique}")
    assert "['Titanic.csv']" in step_log(finished(experiment.submit(pipeline)), "train_step")
    iris = Dataset.File.from_files((store, f"iris-{unique}"))
    rerun = finished(experiment.submit(pipeline, pipeline_parameters={"file_ds_param": iris}))
    assert "['iris.csv']" in step_log(rerun, "train_step")


@pytest.fixture
def web_file(tmp_path: Path) -> Iterator[str]:
    """A CSV served over http on a loopback port: stands in for the samples' public https URLs."""
    folder = tmp_path / "web"
    write(folder, "Titanic.csv", "PassengerId,Survived\n1,0\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/Titanic.csv"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_dataset_from_a_web_url(workspace: Workspace, tmp_path: Path, unique: str, web_file: str) -> None:
    """aml-pipelines-publish-and-run-using-rest-endpoint, -showcasing-dataset-..., -with-automated-machine-learning-step."""
    write(tmp_path / "src", "train_with_dataset.py", READ_BY_NAME)
    assert list(Dataset.Tabular.from_delimited_files(web_file).to_pandas_dataframe().columns) == ["PassengerId", "Survived"]
    source = Dataset.File.from_files(web_file).as_named_input("file_dataset")
    step = PythonScriptStep(name="train_step", script_name="train_with_dataset.py", source_directory=str(tmp_path / "src"),
                            arguments=["--input_data", source.as_mount()])
    run = finished(Experiment(workspace, f"web-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    assert "PassengerId" in step_log(run, "train_step")
