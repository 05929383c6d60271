"""Prepare the diabetes data: keep the configured features, split train/test."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path


def preprocess(raw_path: str, config_dir: str, output_dir: str, test_fraction: float = 0.2, seed: int = 0) -> dict:
    raw = Path(raw_path)
    source = raw if raw.is_file() else next(raw.glob("*.csv"))
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    features = json.loads((Path(config_dir) / "features.json").read_text())["features"]
    missing = [f for f in features if f not in rows[0]]
    if missing:
        raise ValueError(f"features {missing} are not columns of {source.name}")
    random.Random(seed).shuffle(rows)
    cut = int(len(rows) * (1 - test_fraction))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", rows[:cut]), ("test.csv", rows[cut:])):
        with open(out / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*features, "target"])
            writer.writeheader()
            for row in part:
                writer.writerow({k: row[k] for k in [*features, "target"]})
    summary = {"rows": len(rows), "train": cut, "test": len(rows) - cut, "features": features}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
