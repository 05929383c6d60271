"""The training samples' patterns: HyperDrive, AutoML, the NYC taxi data-prep chain, registering models in steps."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pandas as pd
from migration_support import MIGRATION, finished, step_log, write

from pipeline_core.core import Dataset, Experiment, ScriptRunConfig, Workspace
from pipeline_core.core.model import Model
from pipeline_core.pipeline.core import Pipeline, PipelineData
from pipeline_core.pipeline.steps import PythonScriptStep

pytestmark = MIGRATION


def _crime_dataset(workspace: Workspace, tmp_path: Path, unique: str) -> Dataset:
    rows = pd.DataFrame({"Beat": [1, 2, 3, 4, 5, 6], "FBI Code": ["06", "08B", "14", "06", "08B", "14"],
                         "Primary Type": ["THEFT", "BATTERY", "THEFT", "BATTERY", "THEFT", "BATTERY"]})
    rows.to_csv(tmp_path / "crime.csv", index=False)
    workspace.get_default_datastore().upload_files([str(tmp_path / "crime.csv")], target_path=f"crime-{unique}",
                                                   overwrite=True)
    return Dataset.Tabular.from_delimited_files((workspace.get_default_datastore(), f"crime-{unique}/crime.csv"))


def test_register_model_from_a_step(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-parameter-tuning-with-hyperdrive's register_model.py: the step reaches its workspace through
    its run and registers the model it was given."""
    store = workspace.get_default_datastore()
    saved = PipelineData(name="saved_model", datastore=store)
    write(tmp_path, "train.py", """
        import argparse, os
        p = argparse.ArgumentParser(); p.add_argument("--out"); a = p.parse_args()
        os.makedirs(a.out, exist_ok=True)
        open(os.path.join(a.out, "saved_model.pb"), "w").write("weights")
    """)
    write(tmp_path, "register_model.py", f"""
        import argparse, os, shutil
        from pipeline_core.core import Run, Model
        p = argparse.ArgumentParser(); p.add_argument("--saved-model", dest="saved_model"); a = p.parse_args()
        os.makedirs("model", exist_ok=True)
        for name in os.listdir(a.saved_model):
            shutil.copy2(os.path.join(a.saved_model, name), "model")
        ws = Run.get_context().experiment.workspace
        Model.register(workspace=ws, model_name="tf-dnn-mnist-{unique}", model_path="model")
    """)
    train = PythonScriptStep(name="hd_step01", script_name="train.py", source_directory=str(tmp_path),
                             arguments=["--out", saved], outputs=[saved])
    register = PythonScriptStep(name="register_model_step01", script_name="register_model.py",
                                source_directory=str(tmp_path), inputs=[saved], arguments=["--saved-model", saved])
    register.run_after(train)
    finished(Experiment(workspace, f"hd-{unique}").submit(Pipeline(workspace=workspace, steps=[train, register])))
    model = Model(workspace, f"tf-dnn-mnist-{unique}")
    target = model.download(target_dir=str(tmp_path / "dl"), exist_ok=True)
    assert (Path(target) / "saved_model.pb").read_text() == "weights"


def test_pipeline_output_by_its_pipeline_output_name(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """The HyperDrive and AutoML samples fetch results with run.get_pipeline_output('metrics_output')."""
    metrics = PipelineData(name="metrics_data", datastore=workspace.get_default_datastore(),
                           pipeline_output_name="metrics_output")
    write(tmp_path, "metrics.py", """
        import json, os, sys
        os.makedirs(sys.argv[1], exist_ok=True)
        json.dump({"run_0": {"accuracy": [0.9]}}, open(os.path.join(sys.argv[1], "metrics.json"), "w"))
    """)
    step = PythonScriptStep(name="metrics", script_name="metrics.py", source_directory=str(tmp_path),
                            arguments=[metrics], outputs=[metrics])
    run = finished(Experiment(workspace, f"po-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    output = run.get_pipeline_output("metrics_output")
    assert output.download(str(tmp_path / "dl"), show_progress=False)


def test_hyperdrive_step_tunes_a_script(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-parameter-tuning-with-hyperdrive."""
    from pipeline_core.pipeline.core import TrainingOutput
    from pipeline_core.pipeline.steps import HyperDriveStep
    from pipeline_core.train.hyperdrive import (
        BanditPolicy,
        HyperDriveConfig,
        PrimaryMetricGoal,
        RandomParameterSampling,
        choice,
    )

    write(tmp_path, "train.py", """
        import argparse
        from pipeline_core.core import Run
        p = argparse.ArgumentParser(); p.add_argument("--rate", type=float); a = p.parse_args()
        Run.get_context().log("validation_acc", 1 - abs(a.rate - 0.1))
    """)
    config = HyperDriveConfig(run_config=ScriptRunConfig(source_directory=str(tmp_path), script="train.py"),
                              hyperparameter_sampling=RandomParameterSampling({"--rate": choice(0.05, 0.1, 0.5)}),
                              policy=BanditPolicy(evaluation_interval=2, slack_factor=0.1),
                              primary_metric_name="validation_acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=3, max_concurrent_runs=3)
    metrics = PipelineData(name="metrics_data", datastore=workspace.get_default_datastore(),
                           pipeline_output_name="metrics_output", training_output=TrainingOutput("Metrics"))
    step = HyperDriveStep(name="hd_step01", hyperdrive_config=config, outputs=[metrics])
    run = finished(Experiment(workspace, f"hdstep-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    output = run.get_pipeline_output("metrics_output")
    output.download(str(tmp_path), show_progress=False)
    assert len(pd.read_json(tmp_path / output._path_on_datastore).columns) == 3


def test_automl_step_best_model(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-with-automated-machine-learning-step (and the NYC taxi sample's AutoML step)."""
    from pipeline_core.pipeline.core import TrainingOutput
    from pipeline_core.pipeline.steps import AutoMLStep
    from pipeline_core.train.automl import AutoMLConfig
    from pipeline_core.train.automl.run import AutoMLRun

    dataset = _crime_dataset(workspace, tmp_path, unique)
    config = AutoMLConfig(task="classification", training_data=dataset, label_column_name="Primary Type",
                          path=str(tmp_path), experiment_timeout_minutes=1, primary_metric="AUC_weighted",
                          iterations=4)  # six rows: unbounded, FLAML runs thousands of trials in the minute
    store = workspace.get_default_datastore()
    model_data = PipelineData(name="model_data", datastore=store, pipeline_output_name="best_model_output",
                              training_output=TrainingOutput(type="Model"))
    step = AutoMLStep(name="automl_module", automl_config=config, outputs=[model_data], allow_reuse=True)
    experiment = Experiment(workspace, f"automl-{unique}")
    run = finished(experiment.submit(Pipeline(workspace=workspace, steps=[step])), timeout=300)
    best = run.get_pipeline_output("best_model_output")
    best.download(str(tmp_path), show_progress=False)
    with open(tmp_path / best._path_on_datastore, "rb") as f:
        model = pickle.load(f)
    assert len(model.predict(dataset.to_pandas_dataframe().drop(columns=["Primary Type"]))) == 6
    assert AutoMLRun(experiment=experiment, run_id=run.get_steps()[0].id)


def test_tabular_dataset_drop_columns_and_take(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """aml-pipelines-with-automated-machine-learning-step: drop a column before registering, peek at five rows."""
    dataset = _crime_dataset(workspace, tmp_path, unique).drop_columns(["FBI Code"])
    dataset = dataset.register(workspace=workspace, name=f"Crime-Dataset-{unique}", description="crimes")
    assert f"Crime-Dataset-{unique}" in workspace.datasets.keys()
    assert list(dataset.take(5).to_pandas_dataframe().columns) == ["Beat", "Primary Type"]


def test_tabular_dataset_keep_columns(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """nyc-taxi-data-regression-model-building: the AutoML training data keeps six columns."""
    dataset = _crime_dataset(workspace, tmp_path, unique).keep_columns(["Beat", "Primary Type"])
    assert list(dataset.to_pandas_dataframe().columns) == ["Beat", "Primary Type"]


PREP = """
import argparse, os
import pandas as pd
from pipeline_core.core import Run
p = argparse.ArgumentParser(); p.add_argument("--input_name"); p.add_argument("--output"); a = p.parse_args()
df = Run.get_context().input_datasets[a.input_name].to_pandas_dataframe()
df["step"] = df.get("step", 0) + 1
os.makedirs(a.output, exist_ok=True)
df.to_parquet(os.path.join(a.output, "processed.parquet"))
print("rows", len(df), "step", int(df["step"].max()))
"""


def test_nyc_taxi_outputs_read_as_tabular_datasets(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """nyc-taxi-data-regression-model-building: cleanse -> merge chain over parquet outputs consumed as datasets."""
    store = workspace.get_default_datastore()
    pd.DataFrame({"cost": [1.0, 2.0]}).to_csv(tmp_path / "raw.csv", index=False)
    store.upload_files([str(tmp_path / "raw.csv")], target_path=f"taxi-{unique}", overwrite=True)
    raw = Dataset.Tabular.from_delimited_files(store.path(f"taxi-{unique}/raw.csv"))
    write(tmp_path / "src", "prep.py", PREP)
    cleansed = PipelineData("cleansed_data", datastore=store, is_directory=True).as_dataset()
    merged = PipelineData("merged_data", datastore=store, is_directory=True).as_dataset()
    PythonScriptStep(name="cleanse", script_name="prep.py", source_directory=str(tmp_path / "src"),
                     arguments=["--input_name", "raw_data", "--output", cleansed],
                     inputs=[raw.as_named_input("raw_data")], outputs=[cleansed])
    merge = PythonScriptStep(name="merge", script_name="prep.py", source_directory=str(tmp_path / "src"),
                             arguments=["--input_name", "cleansed_data", "--output", merged],
                             inputs=[cleansed.parse_parquet_files()], outputs=[merged])
    run = finished(Experiment(workspace, f"taxi-{unique}").submit(Pipeline(workspace=workspace, steps=[merge])))
    assert "rows 2 step 2" in step_log(run, "merge")


def test_same_input_name_in_two_steps(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """nyc-taxi-data-regression-model-building: both cleanse steps read their taxi data as 'raw_data'."""
    store = workspace.get_default_datastore()
    for color in ("green", "yellow"):
        pd.DataFrame({"cost": [1.0]}).to_csv(tmp_path / f"{color}.csv", index=False)
        store.upload_files([str(tmp_path / f"{color}.csv")], target_path=f"two-{unique}", overwrite=True)
    write(tmp_path / "src", "show.py", """
        from pipeline_core.core import Run
        print("raw_data" in Run.get_context().input_datasets)
    """)
    steps = [PythonScriptStep(name=f"cleanse {color}", script_name="show.py", source_directory=str(tmp_path / "src"),
                              inputs=[Dataset.Tabular.from_delimited_files(store.path(f"two-{unique}/{color}.csv"))
                                      .as_named_input("raw_data")])
             for color in ("green", "yellow")]
    run = finished(Experiment(workspace, f"two-{unique}").submit(Pipeline(workspace=workspace, steps=steps)))
    assert all("True" in step_log(run, s.name) for s in steps)


def test_downloaded_output_follows_aml_layout(workspace: Workspace, tmp_path: Path, unique: str) -> None:
    """nyc-taxi-data-regression-model-building: fetch_df looks for <download>/azureml/<folder>/<output>/processed.parquet."""
    out = PipelineData("cleansed_data", datastore=workspace.get_default_datastore(), is_directory=True)
    write(tmp_path, "write.py", """
        import os, sys
        import pandas as pd
        os.makedirs(sys.argv[1], exist_ok=True)
        pd.DataFrame({"cost": [1.0]}).to_parquet(os.path.join(sys.argv[1], "processed.parquet"))
    """)
    step = PythonScriptStep(name="cleanse", script_name="write.py", source_directory=str(tmp_path),
                            arguments=[out], outputs=[out])
    run = finished(Experiment(workspace, f"layout-{unique}").submit(Pipeline(workspace=workspace, steps=[step])))
    download = tmp_path / "outputs" / "cleansed_data"
    run.find_step_run("cleanse")[0].get_output_data("cleansed_data").download(str(download), overwrite=True)
    folder = os.listdir(download / "azureml")[0]
    assert len(pd.read_parquet(download / "azureml" / folder / "cleansed_data" / "processed.parquet")) == 1
