"""The parallel-run samples and the batch-scoring tutorial: ParallelRunStep over file and tabular datasets."""

from __future__ import annotations

import os
import pickle
import tempfile
import uuid
from pathlib import Path

import pandas as pd
from migration_support import MIGRATION, finished, write

from pipeline_core.core import Dataset, Environment, Experiment, Workspace
from pipeline_core.core.model import Model
from pipeline_core.core.runconfig import DEFAULT_CPU_IMAGE, CondaDependencies
from pipeline_core.pipeline.core import Pipeline, PipelineData, PipelineParameter
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep

pytestmark = MIGRATION


def _env() -> Environment:
    """The samples' batch environment (recorded, no effect here)."""
    env = Environment(name="batch_environment")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["azureml-core", "azureml-dataset-runtime[fuse]"])
    env.docker.base_image = DEFAULT_CPU_IMAGE
    return env


def _results(run, step: ParallelRunStep, output: PipelineData, config: ParallelRunConfig, sep: str) -> pd.DataFrame:
    """The samples' last cell: download the step's output and read the append_row file."""
    step_run = run.find_step_run(step.name)[0]
    data = step_run.get_output_data(output.name)
    target = tempfile.mkdtemp()
    data.download(local_path=target)
    return pd.read_csv(os.path.join(target, data.path_on_datastore, config.append_row_file_name), delimiter=sep,
                       header=None)


def _upload_partitioned_files(workspace: Workspace, tmp_path: Path, prefix: str) -> None:
    for user, season, genre, size in (("user1", "winter", "disco", 3), ("user1", "fall", "orchestra", 5),
                                      ("user2", "summer", "piano", 7), ("user4", "fall", "piano", 11)):
        folder = tmp_path / "files" / user / season
        write(folder, f"{genre}.wav", "x" * size)
        workspace.get_default_datastore().upload(str(folder), f"{prefix}/{user}/{season}", overwrite=True)


def test_file_dataset_partition_per_folder(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """file-dataset-partition-per-folder: partition_format, partition_keys, run(mini_batch, mini_batch_context)."""
    prefix = f"partition-{unique}"
    _upload_partitioned_files(workspace, tmp_path, prefix)
    store = workspace.get_default_datastore()
    dataset = Dataset.File.from_files(path=(store, f"{prefix}/*/*/*.wav"),
                                      partition_format=f"{prefix}/{{user}}/{{season}}/{{genres}}.wav", validate=False)
    assert set(dataset.partition_keys) == {"user", "season", "genres"}
    write(tmp_path / "Code", "total_file_size.py", """
        import os
        def init():
            print("Init")
        def run(mini_batch, mini_batch_context):
            total = sum(os.path.getsize(p) for p in mini_batch)
            key = mini_batch_context.partition_key_value
            return [f"{os.path.basename(p)},{key['user']},{key['genres']},{total}" for p in mini_batch]
    """)
    output = PipelineData(name="file_dataset_inferences", datastore=store)
    config = ParallelRunConfig(source_directory=str(tmp_path / "Code"), entry_script="total_file_size.py",
                               partition_keys=["user", "genres"], error_threshold=5, output_action="append_row",
                               append_row_file_name="file_size_outputs.txt", environment=_env(),
                               compute_target="cpu-cluster", node_count=2, run_invocation_timeout=600)
    step = ParallelRunStep(name="summarize-file-size", inputs=[dataset.as_named_input("partitioned_file_input")],
                           output=output, parallel_run_config=config, allow_reuse=False)
    run = finished(Experiment(workspace, f"fpart-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    rows = {tuple(r) for r in _results(run, step, output, config, ",").itertuples(index=False)}
    assert rows == {("disco.wav", "user1", "disco", 3), ("orchestra.wav", "user1", "orchestra", 5),
                    ("piano.wav", "user2", "piano", 7), ("piano.wav", "user4", "piano", 11)}


def test_file_dataset_partition_context_carries_its_dataset(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """file-dataset-partition-per-folder: its entry script prints mini_batch_context.dataset."""
    prefix = f"pctx-{unique}"
    _upload_partitioned_files(workspace, tmp_path, prefix)
    store = workspace.get_default_datastore()
    dataset = Dataset.File.from_files(path=(store, f"{prefix}/*/*/*.wav"),
                                      partition_format=f"{prefix}/{{user}}/{{season}}/{{genres}}.wav", validate=False)
    write(tmp_path / "Code", "entry.py", """
        def init():
            pass
        def run(mini_batch, mini_batch_context):
            print(f"dataset = {mini_batch_context.dataset}")
            return [type(mini_batch_context.dataset).__name__ for _ in mini_batch]
    """)
    output = PipelineData(name="out", datastore=store)
    config = ParallelRunConfig(source_directory=str(tmp_path / "Code"), entry_script="entry.py", partition_keys=["user"],
                               environment=_env(), error_threshold=0, output_action="append_row",
                               append_row_file_name="out.txt", compute_target="cpu-cluster", node_count=1)
    step = ParallelRunStep(name="ctx", inputs=[dataset.as_named_input("partitioned")], output=output,
                           parallel_run_config=config, allow_reuse=False)
    run = finished(Experiment(workspace, f"pctx-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    assert set(_results(run, step, output, config, ",")[0]) == {"FileDataset"}


def test_tabular_dataset_inference_with_a_registered_model(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """tabular-dataset-inference-iris: Model.register, Model.get_model_path in init(), EntryScript logger, '1KB' batches."""
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    iris = load_iris(as_frame=True)
    features = iris.data.iloc[::5]  # 30 rows
    model_file = tmp_path / "iris_model.pkl"
    model_file.write_bytes(pickle.dumps(DecisionTreeClassifier(random_state=0).fit(iris.data.values, iris.target)))
    store = workspace.get_default_datastore()
    features.to_csv(tmp_path / "iris.csv", index=False)
    store.upload_files([str(tmp_path / "iris.csv")], target_path=f"iris-{unique}", overwrite=True)
    model_name = f"iris-prs-{unique}"
    Model.register(model_path=str(model_file), model_name=model_name, tags={"pretrained": "iris"}, workspace=workspace)
    write(tmp_path / "Code", "iris_score.py", """
        import argparse, pickle
        from pipeline_core.core.model import Model
        from azureml_user.parallel_run import EntryScript

        def init():
            global model
            EntryScript().logger.info("init() is called.")
            parser = argparse.ArgumentParser()
            parser.add_argument("--model_name", dest="model_name", required=True)
            args, _ = parser.parse_known_args()
            with open(Model.get_model_path(args.model_name), "rb") as f:
                model = pickle.load(f)

        def run(input_data):
            result = input_data.copy()
            result["variety"] = model.predict(input_data.values)
            return result
    """)
    dataset = Dataset.Tabular.from_delimited_files(path=store.path(f"iris-{unique}/"), validate=False)
    output = PipelineData(name="inferences", datastore=store)
    config = ParallelRunConfig(source_directory=str(tmp_path / "Code"), entry_script="iris_score.py",
                               mini_batch_size="1KB", error_threshold=5, output_action="append_row",
                               append_row_file_name="iris_outputs.txt", environment=_env(),
                               compute_target="cpu-cluster", node_count=2, run_invocation_timeout=600)
    step = ParallelRunStep(name="example-iris", inputs=[dataset.as_named_input("iris_data")], output=output,
                           parallel_run_config=config, arguments=["--model_name", model_name], allow_reuse=False)
    run = finished(Experiment(workspace, f"iris-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    df = _results(run, step, output, config, " ")
    assert len(df) == 30 and set(df[4]) <= {0, 1, 2}


def test_file_dataset_inference_with_a_registered_model_folder(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """file-dataset-image-inference-mnist: a model folder, parameters for batch size and processes, a second run."""
    store = workspace.get_default_datastore()
    images = tmp_path / "images"
    for i in range(6):
        write(images, f"{i}.txt", str(i))
    store.upload(str(images), f"mnist-{unique}", overwrite=True)
    write(tmp_path / "models", "factor.txt", "10")
    model_name = f"mnist-prs-{unique}"
    Model.register(model_path=str(tmp_path / "models"), model_name=model_name, tags={"pretrained": "mnist"},
                   description="a folder model", workspace=workspace)
    write(tmp_path / "Code", "digit_identification.py", f"""
        import os
        from pipeline_core.core import Model

        def init():
            global factor
            factor = int(open(os.path.join(Model.get_model_path("{model_name}"), "factor.txt")).read())

        def run(mini_batch):
            return ["{{}}: {{}}".format(os.path.basename(p), int(open(p).read()) * factor) for p in mini_batch]
    """)
    output = PipelineData(name="inferences", datastore=store)
    config = ParallelRunConfig(source_directory=str(tmp_path / "Code"), entry_script="digit_identification.py",
                               mini_batch_size=PipelineParameter(name="batch_size_param", default_value="5"),
                               error_threshold=10, output_action="append_row", append_row_file_name="mnist_outputs.txt",
                               environment=_env(), compute_target="cpu-cluster",
                               process_count_per_node=PipelineParameter(name="process_count_param", default_value=2),
                               node_count=2)
    dataset = Dataset.File.from_files(path=store.path(f"mnist-{unique}"), validate=False)
    step = ParallelRunStep(name="predict-digits-mnist", parallel_run_config=config,
                           inputs=[dataset.as_named_input("mnist").as_mount()], output=output, allow_reuse=False)
    pipeline = Pipeline(workspace=workspace, steps=[step])
    experiment = Experiment(workspace, f"digits-{unique}")
    df = _results(finished(experiment.submit(pipeline)), step, output, config, ":")
    assert sorted(df[1]) == [0, 10, 20, 30, 40, 50]
    again = finished(experiment.submit(pipeline, pipeline_parameters={"batch_size_param": "1", "process_count_param": 1}))
    assert len(_results(again, step, output, config, ":")) == 6


def test_batch_scoring_side_input_mounted_at_a_path(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """tutorial-pipeline-batch-scoring-classification: registered datasets, a labels side input mounted at a path
    given as an argument, a registered model, publish_pipeline from the run."""
    store = workspace.get_default_datastore()
    for i in range(4):
        write(tmp_path / "images", f"img_{i}.txt", str(i))
    write(tmp_path / "labels", "labels.txt", "zero\none\ntwo\nthree\n")
    store.upload(str(tmp_path / "images"), f"bs-{unique}/images", overwrite=True)
    store.upload(str(tmp_path / "labels"), f"bs-{unique}/labels", overwrite=True)
    images = Dataset.File.from_files((store, f"bs-{unique}/images/")).register(workspace=workspace, name=f"input_images-{unique}")
    labels = Dataset.File.from_files((store, f"bs-{unique}/labels/")).register(
        workspace=workspace, name=f"label_ds-{unique}", create_new_version=True)
    write(tmp_path / "models", "inception_v3.ckpt", "offset=0")
    Model.register(model_path=str(tmp_path / "models" / "inception_v3.ckpt"), model_name=f"inception-{unique}",
                   tags={"pretrained": "inception"}, description="stand-in checkpoint", workspace=workspace)
    write(tmp_path / "scripts", "batch_scoring.py", """
        import argparse, os
        from pipeline_core.core.model import Model

        def init():
            global labels
            parser = argparse.ArgumentParser()
            parser.add_argument("--model_name", required=True)
            parser.add_argument("--labels_dir", required=True)
            args, _ = parser.parse_known_args()
            assert os.path.exists(Model.get_model_path(args.model_name))
            labels = open(os.path.join(args.labels_dir, "labels.txt")).read().split()

        def run(mini_batch):
            return [os.path.basename(p) + ": " + labels[int(open(p).read())] for p in mini_batch]
    """)
    output = PipelineData(name="scores", datastore=store)
    config = ParallelRunConfig(environment=_env(), entry_script="batch_scoring.py", source_directory=str(tmp_path / "scripts"),
                               output_action="append_row", append_row_file_name="parallel_run_step.txt",
                               mini_batch_size="20", error_threshold=1, compute_target="gpu-cluster",
                               process_count_per_node=2, node_count=2)
    label_config = labels.as_named_input("labels_input").as_mount(f"/tmp/{uuid.uuid4()}")
    step = ParallelRunStep(name=f"batchscoring-{unique}", inputs=[images.as_named_input("input_images")], output=output,
                           arguments=["--model_name", f"inception-{unique}", "--labels_dir", label_config],
                           side_inputs=[label_config], parallel_run_config=config, allow_reuse=False)
    run = finished(Experiment(workspace, f"Tutorial-Batch-Scoring-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    df = _results(run, step, output, config, ":")
    assert sorted(df[1].str.strip()) == ["one", "three", "two", "zero"]
    published = run.publish_pipeline(name=f"Inception_v3_scoring-{unique}", description="Batch scoring", version="1.0")
    assert published.endpoint.endswith("/runs")


def test_tabular_dataset_partition_per_column(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """tabular-dataset-partition-per-column: partition_by writes one partition per (Store, Brand)."""
    store = workspace.get_default_datastore()
    pd.DataFrame({"Store": [2, 2, 5], "Brand": ["a", "b", "a"], "INCOME": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "oj.csv", index=False)
    store.upload_files([str(tmp_path / "oj.csv")], str(tmp_path), f"oj-{unique}", overwrite=True, show_progress=False)
    dataset = Dataset.Tabular.from_delimited_files(path=(store, f"oj-{unique}/*.csv"))
    partitioned = dataset.partition_by(partition_keys=["Store", "Brand"], target=(store, f"oj-part-{unique}"),
                                       name=f"partitioned_oj_data-{unique}")
    assert set(partitioned.partition_keys) == {"Store", "Brand"}
    write(tmp_path / "Code", "total_income.py", """
        def init():
            pass
        def run(mini_batch):
            mini_batch["total_income"] = mini_batch["INCOME"].sum()
            return mini_batch
    """)
    output = PipelineData(name="inferences", datastore=store)
    config = ParallelRunConfig(source_directory=str(tmp_path / "Code"), entry_script="total_income.py",
                               partition_keys=["Store", "Brand"], error_threshold=5, output_action="append_row",
                               append_row_file_name="revenue_outputs.txt", environment=_env(), compute_target="cpu-cluster",
                               node_count=2)
    step = ParallelRunStep(name="summarize-revenue", inputs=[partitioned.as_named_input("partitioned_tabular_input")],
                           output=output, parallel_run_config=config, allow_reuse=False)
    run = finished(Experiment(workspace, f"tpart-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    assert len(_results(run, step, output, config, " ")) == 3
