"""The batch-scoring pipeline, shared by driver.py (one run) and schedule.py (published and scheduled).

AML SDK v1 code; only the imports changed. train (PythonScriptStep) -> batchscoring (ParallelRunStep
with the seed's ParallelRunConfig) over the files of ``input_files``.
"""

import os
import random
import tempfile

from pipeline_core.core import Environment
from pipeline_core.core.compute import ComputeTarget
from pipeline_core.pipeline.core import Pipeline, PipelineData
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep, PythonScriptStep

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


def write_inputs(datastore, target_path: str, count: int, first: int = 0, seed: int = 7) -> None:
    """``count`` one-row CSV files of iris measurements (flower-{first:04d}.csv ...) uploaded to ``target_path``."""
    from sklearn.datasets import load_iris

    rows = load_iris().data
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        for i in range(first, first + count):
            row = rows[rng.randrange(len(rows))]
            with open(os.path.join(folder, f"flower-{i:04d}.csv"), "w") as handle:
                handle.write(",".join(f"{v + rng.uniform(-0.1, 0.1):.2f}" for v in row))
        datastore.upload(src_dir=folder, target_path=target_path, overwrite=False, show_progress=False)


def build_pipeline(ws, input_files) -> Pipeline:
    """train -> batchscoring over ``input_files`` (a FileDataset); predictions in the step output ``scores``."""
    datastore = ws.get_default_datastore()
    compute_target = ComputeTarget(workspace=ws, name="cpu-cluster")
    batch_env = Environment(name="batch-env")

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

    return Pipeline(workspace=ws, steps=[train_step, batch_score_step])
