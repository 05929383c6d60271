"""Batch inference, written for Azure ML SDK v1 (the seed's ParallelRunConfig); only the imports changed.

train (PythonScriptStep) -> batchscoring (ParallelRunStep over a few hundred input files).
`amlite run examples/batch_scoring/driver.py`
"""

import os
import random
import tempfile

from pipeline_core.core import Dataset, Environment, Experiment, Workspace
from pipeline_core.core.compute import ComputeTarget
from pipeline_core.pipeline.core import Pipeline, PipelineData
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep, PythonScriptStep

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")
INPUT_FILES = int(os.environ.get("BATCH_SCORING_FILES", "300"))


def write_inputs(datastore, count: int = INPUT_FILES) -> None:
    """A few hundred one-row CSV files to score, on the datastore (written once)."""
    from sklearn.datasets import load_iris

    rows = load_iris().data
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        for i in range(count):
            row = rows[rng.randrange(len(rows))]
            with open(os.path.join(folder, f"flower-{i:04d}.csv"), "w") as handle:
                handle.write(",".join(f"{v + rng.uniform(-0.1, 0.1):.2f}" for v in row))
        datastore.upload(src_dir=folder, target_path=f"batch_scoring/inputs-{count}", overwrite=False,
                         show_progress=False)


ws = Workspace.from_config()
datastore = ws.get_default_datastore()
write_inputs(datastore)
compute_target = ComputeTarget(workspace=ws, name="cpu-cluster")
batch_env = Environment(name="batch-env")

input_files = Dataset.File.from_files(path=(datastore, f"batch_scoring/inputs-{INPUT_FILES}/**"))
model_dir = PipelineData("model_dir", datastore=datastore)
output_dir = PipelineData(name="scores", datastore=datastore)

train_step = PythonScriptStep(name="train", script_name="train.py", source_directory=SCRIPTS,
                              arguments=["--model_dir", model_dir], outputs=[model_dir],
                              compute_target=compute_target)

parallel_run_config = ParallelRunConfig(
    source_directory=SCRIPTS,
    entry_script="batch_score.py",
    mini_batch_size="5",
    error_threshold=4,
    output_action="append_row",
    environment=batch_env,
    compute_target=compute_target,
    node_count=5)

batch_score_step = ParallelRunStep(
    name="batchscoring",
    inputs=[input_files.as_named_input("input_files")],
    output=output_dir,
    arguments=["--model_dir", model_dir],
    side_inputs=[model_dir],
    parallel_run_config=parallel_run_config,
    allow_reuse=False)

pipeline = Pipeline(workspace=ws, steps=[train_step, batch_score_step])

if __name__ == "__main__":
    run = Experiment(ws, "batch-scoring").submit(pipeline)
    run.wait_for_completion(show_output=True)
    scores = run.find_step_run("batchscoring")[0].get_output_data("scores")
    folder = scores.download(tempfile.mkdtemp(prefix="scores-"))
    with open(os.path.join(folder, "parallel_run_step.txt")) as handle:
        lines = handle.read().splitlines()
    print(f"{len(lines)} predictions, first: {lines[:3]}")
