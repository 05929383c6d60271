"""Batch inference, written for Azure ML SDK v1 (the seed's ParallelRunConfig); only the imports changed.

train (PythonScriptStep) -> batchscoring (ParallelRunStep over a few hundred input files); the pipeline
itself is built in scoring_pipeline.py, which schedule.py (the scheduled variant) shares.
`amlite run examples/batch_scoring/driver.py` or `python examples/batch_scoring/driver.py`
(BATCH_SCORING_FILES sets the number of input files, default 300).
"""

import os
import tempfile

from scoring_pipeline import build_pipeline, write_inputs

from pipeline_core.core import Dataset, Experiment, Workspace

INPUT_FILES = int(os.environ.get("BATCH_SCORING_FILES", "300"))
INPUT_PATH = f"batch_scoring/inputs-{INPUT_FILES}"

ws = Workspace.from_config()
datastore = ws.get_default_datastore()
write_inputs(datastore, INPUT_PATH, INPUT_FILES)  # written once: existing files are kept
input_files = Dataset.File.from_files(path=(datastore, f"{INPUT_PATH}/**"))
pipeline = build_pipeline(ws, input_files)

if __name__ == "__main__":
    run = Experiment(ws, "batch-scoring").submit(pipeline)
    run.wait_for_completion(show_output=True)
    scores = run.find_step_run("batchscoring")[0].get_output_data("scores")
    folder = scores.download(tempfile.mkdtemp(prefix="scores-"))
    with open(os.path.join(folder, "parallel_run_step.txt")) as handle:
        lines = handle.read().splitlines()
    print(f"{len(lines)} predictions, first: {lines[:3]}")
