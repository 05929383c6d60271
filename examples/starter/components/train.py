"""Train a ridge regression on the prepared data and save the model with its metrics."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.genfromtxt(path, delimiter=",", names=True)
    names = [n for n in data.dtype.names if n != "target"]
    features = np.column_stack([data[n] for n in names])
    return features, data["target"]


def train(data_dir: str, model_dir: str, alpha: float = 1.0) -> dict:
    x_train, y_train = _load(Path(data_dir) / "train.csv")
    x_test, y_test = _load(Path(data_dir) / "test.csv")
    model = Ridge(alpha=alpha).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"alpha": alpha, "r2": float(r2_score(y_test, predicted)),
               "rmse": float(mean_squared_error(y_test, predicted) ** 0.5)}
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
