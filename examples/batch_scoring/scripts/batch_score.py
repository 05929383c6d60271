"""The entry script, written as for AML v1's ParallelRunStep: init() once per worker, run() per mini-batch."""

import argparse
import os
import pickle

from azureml_user.parallel_run import EntryScript

model = None
classes: list = []


def init():
    global model, classes
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    with open(os.path.join(args.model_dir, "model.pkl"), "rb") as handle:
        saved = pickle.load(handle)
    model, classes = saved["model"], saved["classes"]
    EntryScript().logger.info("model loaded from %s", args.model_dir)


def run(mini_batch):
    results = []
    for path in mini_batch:
        with open(path) as handle:
            features = [float(v) for v in handle.read().strip().split(",")]
        if len(features) != 4:
            raise ValueError(f"{os.path.basename(path)}: expected 4 features, got {len(features)}")
        label = classes[int(model.predict([features])[0])]
        results.append(f"{os.path.basename(path)}: {label}")
    return results
