"""scripts/publish_pipelines.py, the release workflow's publish step, against Azurite.

It publishes the example driver's pipeline, writes the marker CSV the release
keeps, and a second release becomes the new default of the same pipeline
endpoint (one stable URL for Data Factory).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipeline_core import PipelineEndpoint, PublishedPipeline, Workspace

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "publish_pipelines.py"


def publish(azurite: str, out: Path, version: str, *drivers: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AMLITE_STORAGE": azurite}
    env.pop("AMLITE_ENDPOINT", None)
    return subprocess.run([sys.executable, str(SCRIPT), "--version", version, "--out", str(out), *map(str, drivers)],
                          capture_output=True, text=True, env=env, timeout=240, cwd=out.parent)


def read(out: Path) -> list[dict[str, str]]:
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_publishes_the_driver_and_writes_the_marker_csv(azurite: str, tmp_path: Path) -> None:
    name = f"starter_{uuid.uuid4().hex[:8]}"  # the pipeline is named after its driver's folder
    folder = shutil.copytree(ROOT / "examples" / "starter", tmp_path / name)
    out = tmp_path / "published-pipelines.csv"

    first = publish(azurite, out, "v1", folder / "driver.py")
    assert first.returncode == 0, first.stderr
    (row,) = read(out)
    workspace = Workspace(storage=azurite)
    published = PublishedPipeline.get(workspace, row["id"])
    assert (row["name"], row["version"], row["endpoint"]) == (name, "v1", published.endpoint)
    assert (published.name, published.version, published.status) == (name, "v1", "Active")
    endpoint = PipelineEndpoint.get(workspace, name=name)
    assert (row["pipeline_endpoint_id"], row["pipeline_endpoint_url"]) == (endpoint.id, endpoint.endpoint)
    assert endpoint.get_pipeline().id == row["id"]

    second = publish(azurite, out, "v2", folder / "driver.py")
    assert second.returncode == 0, second.stderr
    (again,) = read(out)
    assert again["id"] != row["id"] and again["pipeline_endpoint_id"] == row["pipeline_endpoint_id"]
    assert PipelineEndpoint.get(workspace, name=name).get_pipeline().id == again["id"]  # the new default


def test_a_driver_without_a_pipeline_publishes_nothing(azurite: str, tmp_path: Path) -> None:
    driver = tmp_path / "empty" / "driver.py"
    driver.parent.mkdir()
    driver.write_text("x = 1\n")
    out = tmp_path / "published-pipelines.csv"
    result = publish(azurite, out, "v1", driver)
    assert result.returncode == 2 and "defines no Pipeline named `pipeline`" in result.stderr
    assert not out.exists()
