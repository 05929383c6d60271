"""Train the classifier the batch scoring step uses (iris ships with scikit-learn: nothing is downloaded)."""

import argparse
import os
import pickle

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--model_dir", required=True)
args = parser.parse_args()

data = load_iris()
model = LogisticRegression(max_iter=500).fit(data.data, data.target)
os.makedirs(args.model_dir, exist_ok=True)
with open(os.path.join(args.model_dir, "model.pkl"), "wb") as handle:
    pickle.dump({"model": model, "classes": list(data.target_names)}, handle)
print(f"trained on {len(data.data)} rows, training accuracy {model.score(data.data, data.target):.3f}")
