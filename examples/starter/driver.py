"""The starter template's driver, written for Azure ML SDK v1; only the imports changed.

    azureml.core            -> pipeline_core.core
    azureml.data...         -> pipeline_core.data...
    azureml.pipeline...     -> pipeline_core.pipeline...

Run it as on AML:

    python driver.py --local                                  # this machine (Azurite), submit and wait
    python driver.py --action validate --env dev              # config/dev.json; CI's Build stage
    python driver.py --action submit-experiment --env dev --workspace_name other-ws
    python driver.py --action publish-pipeline --env dev      # Release stage: prints the pipeline id last

`config/<env>.json` holds the workspace (`endpoint` = the amlite Functions app) and an `auth`
section: a service principal whose secret is in the environment variable `client_secret_env`
or in Key Vault (`keyvault_url` + `keyvault_secret_name`); with neither, you sign in (device code
on a headless machine). `amlite run examples/starter/driver.py` loads the file for its `pipeline`
(the workspace from config.json / `AMLITE_*`), as do `amlite validate` and the release script.
"""

import argparse
import csv
import json
import os
import sys
import tempfile

from pipeline_core.core import Datastore, Experiment, Workspace
from pipeline_core.core.auth_config import authentication_from_config
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


def build_pipeline(ws: Workspace) -> Pipeline:
    datastore = ws.get_default_datastore()
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
    return Pipeline(workspace=ws, steps=[preprocess_step, train_step], description="starter: preprocess -> train")


def workspace_for(args: argparse.Namespace) -> tuple[Workspace, dict]:
    """The workspace and settings the command line asks for: this machine, or config/<env>.json."""
    if args.local:
        os.environ.pop("AMLITE_ENDPOINT", None)  # --local means this machine even where CI set an endpoint
        return Workspace(workspace_name=args.workspace_name or "local"), {}
    path = args.config or os.path.join(HERE, "config", f"{args.env}.json")
    if not os.path.isfile(path):
        sys.exit(f"no config for --env {args.env!r}: create {path} (see config/dev.json) or pass --local")
    with open(path) as handle:
        settings = json.load(handle)
    auth = authentication_from_config(settings.get("auth")) if settings.get("endpoint") else None
    ws = Workspace(subscription_id=settings.get("subscription_id"), resource_group=settings.get("resource_group"),
                   workspace_name=args.workspace_name or settings.get("workspace_name"), auth=auth,
                   endpoint=settings.get("endpoint"), storage=settings.get("storage"), scope=settings.get("scope"),
                   location=settings.get("location"))
    return ws, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the starter pipeline: validate, submit or publish")
    parser.add_argument("--local", action="store_true", help="run on this machine (Azurite), not in a workspace")
    parser.add_argument("--action", choices=["validate", "submit-experiment", "publish-pipeline"],
                        default="submit-experiment")
    parser.add_argument("--env", default="dev", help="which config/<env>.json to use (default: dev)")
    parser.add_argument("--config", help="a config file instead of config/<env>.json")
    parser.add_argument("--workspace_name", help="override the config's workspace_name")
    args = parser.parse_args(argv)

    ws, settings = workspace_for(args)
    upload_sample_data(ws.get_default_datastore())  # validation checks that the data references exist
    pipeline = build_pipeline(ws)
    errors = pipeline.validate()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    if args.action == "validate":
        print(f"pipeline valid ({len(pipeline.steps)} steps) for workspace {ws.name}")
        return 0
    if args.action == "publish-pipeline":
        published = pipeline.publish(name=settings.get("pipeline_name", "starter"),
                                     description="starter: preprocess -> train",
                                     version=os.environ.get("BUILD_BUILDID") or os.environ.get("GITHUB_RUN_NUMBER"))
        print(f"published {published.name} to {published.endpoint}")
        print(published.id)  # last: the release stage reads it
        return 0
    run = Experiment(ws, settings.get("experiment_name", "starter")).submit(pipeline, pipeline_parameters={"alpha": 0.5})
    status = run.wait_for_completion(show_output=True, raise_on_error=False)
    for step in run.get_steps():
        print(step.name, step.get_status(), {k: v.get_port_data_reference().path_on_datastore
                                             for k, v in step.get_outputs().items()})
    if status == "Finished":
        train_run = run.find_step_run("train")[0]
        folder = train_run.get_output_data("model").download(tempfile.mkdtemp(prefix="starter-model-"))
        print("model downloaded to", folder)
    return 0 if status == "Finished" else 1


if __name__ == "__main__":
    sys.exit(main())

# Loaded by `amlite run` / `amlite validate` / scripts/publish_pipelines.py for its `pipeline`:
# the workspace of config.json or the AMLITE_* variables, as AML's Workspace.from_config() reads it.
ws = Workspace.from_config()
upload_sample_data(ws.get_default_datastore())
pipeline = build_pipeline(ws)
