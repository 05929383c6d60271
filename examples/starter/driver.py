"""The starter template's driver, written for Azure ML SDK v1; only the imports changed.

    azureml.core            -> pipeline_core.core
    azureml.data...         -> pipeline_core.data...
    azureml.pipeline...     -> pipeline_core.pipeline...

`amlite run examples/starter/driver.py` runs it, as `python driver.py --local` did.
"""

import csv
import json
import os
import sys
import tempfile

from pipeline_core.core import Datastore, Experiment, Workspace
from pipeline_core.core.compute import ComputeTarget
from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath, DataPathComputeBinding
from pipeline_core.pipeline.core import Pipeline, PipelineData, PipelineParameter
from pipeline_core.pipeline.steps import PythonScriptStep

HERE = os.path.dirname(os.path.abspath(__file__))


def upload_sample_data(datastore: Datastore) -> None:
    """The diabetes data that ships with scikit-learn, as a CSV on the datastore (nothing is downloaded)."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(os.path.join(folder, "raw"))
        os.makedirs(os.path.join(folder, "config"))
        with open(os.path.join(folder, "raw", "diabetes.csv"), "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*data.feature_names, "target"])
            for row, target in zip(data.data, data.target):
                writer.writerow([*(f"{v:.6f}" for v in row), f"{target:.1f}"])
        with open(os.path.join(folder, "config", "features.json"), "w") as handle:
            json.dump({"features": ["age", "sex", "bmi", "bp", "s1", "s5"]}, handle)
        datastore.upload(src_dir=folder, target_path="starter", overwrite=False, show_progress=False)


ws = Workspace.from_config()
datastore = ws.get_default_datastore()
upload_sample_data(datastore)
compute = ComputeTarget(workspace=ws, name="cpu-cluster")

raw_data = PipelineParameter(
    name="raw_data", default_value=DataPath(datastore=datastore, path_on_datastore="starter/raw/diabetes.csv"))
raw_data_input = (raw_data, DataPathComputeBinding(mode="mount"))
config = DataReference(datastore=datastore, data_reference_name="config", path_on_datastore="starter/config")
alpha = PipelineParameter(name="alpha", default_value=0.5)

prepared = PipelineData("prepared", datastore=datastore)
model = PipelineData("model", datastore=datastore)

preprocess_step = PythonScriptStep(
    name="preprocess",
    script_name="01_preprocess_step.py",
    arguments=["--raw_data", raw_data_input, "--config", config, "--output", prepared],
    inputs=[raw_data_input, config],
    outputs=[prepared],
    compute_target=compute,
    source_directory=HERE,
    allow_reuse=True,
)
train_step = PythonScriptStep(
    name="train",
    script_name="02_train_step.py",
    arguments=["--data", prepared, "--model", model, "--alpha", alpha],
    inputs=[prepared],
    outputs=[model],
    compute_target=compute,
    source_directory=HERE,
    allow_reuse=True,
)

pipeline = Pipeline(workspace=ws, steps=[preprocess_step, train_step], description="starter: preprocess -> train")

if __name__ == "__main__":
    errors = pipeline.validate()
    if errors:
        sys.exit("\n".join(errors))
    run = Experiment(ws, "starter").submit(pipeline, pipeline_parameters={"alpha": 0.5})
    run.wait_for_completion(show_output=True)
    for step in run.get_steps():
        print(step.name, step.get_status(), {k: v.get_port_data_reference().path_on_datastore
                                             for k, v in step.get_outputs().items()})
    train_run = run.find_step_run("train")[0]
    folder = train_run.get_output_data("model").download(tempfile.mkdtemp(prefix="starter-model-"))
    print("model downloaded to", folder)
