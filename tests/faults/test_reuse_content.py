"""Reuse verifies content: an output overwritten since the run that wrote it is not reused as if it were the original.

A fixed destination (``OutputFileDatasetConfig(destination=...)``) is shared by
every run that writes it. Run 1 writes "one", run 2 (another parameter value,
so another reuse key) overwrites it with "two"; run 3 has run 1's key. Reusing
run 1 would hand downstream steps "two" under the name of "one". The step must
run again, and ``amlite show`` must say why.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pipeline_core import (
    Experiment,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.engine.reuse import MAX_MANIFEST_CHARS, fit_manifests, output_change, output_manifest

pytestmark = pytest.mark.integration

WRITE = """
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--value"); p.add_argument("--out")
a = p.parse_args()
out = pathlib.Path(a.out)
out.mkdir(parents=True, exist_ok=True)
(out / "value.txt").write_text(a.value)
(out / "other.txt").write_text("constant")
"""


def _pipeline(ws: Workspace, src: Path, destination: str) -> Pipeline:
    (src / "write.py").write_text(WRITE)
    shared = OutputFileDatasetConfig("shared", destination=(ws.get_default_datastore(), destination))
    step = PythonScriptStep("write.py", name="write", source_directory=str(src), allow_reuse=True,
                            arguments=["--value", PipelineParameter("value", "one"), "--out", shared])
    return Pipeline(ws, [step])


def _run(ws: Workspace, experiment: str, pipeline: Pipeline, value: str) -> tuple[str, dict[str, Any]]:
    run = Experiment(ws, experiment).submit(pipeline, pipeline_parameters={"value": value})
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    return run.id, run.find_step_run("write")[0].get_details()


def _value(ws: Workspace, destination: str) -> str:
    blob = ws.get_default_datastore()._container.download_blob(f"{destination}/value.txt")
    return str(blob.readall().decode())


def test_an_overwritten_fixed_destination_is_not_reused(workspace: Workspace, source_dir: Path, experiment_name: str,
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    destination = f"fixed-{uuid.uuid4().hex[:8]}/shared"
    pipeline = _pipeline(workspace, source_dir, destination)
    first, _ = _run(workspace, experiment_name, pipeline, "one")
    _, overwriting = _run(workspace, experiment_name, pipeline, "two")
    assert not overwriting["is_reused"] and _value(workspace, destination) == "two"

    third, details = _run(workspace, experiment_name, pipeline, "one")

    assert not details["is_reused"], "reused an output another run overwrote"
    assert _value(workspace, destination) == "one"
    why = f"output 'shared' changed since run {first} (2 blobs differ)"
    assert details["reuse"]["decision"] == "ran" and details["reuse"]["changed"] == [why]

    from amlite_cli import commands as cli

    monkeypatch.setenv("AMLITE_STORAGE", workspace.storage)
    monkeypatch.delenv("AMLITE_ENDPOINT", raising=False)
    monkeypatch.chdir(tmp_path)
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, width=400))
    assert cli.main(["show", third]) == 0
    assert f"ran: {why}" in screen.getvalue()

    # Untouched since run 3: reused, as before.
    _, again = _run(workspace, experiment_name, pipeline, "one")
    assert again["is_reused"] and again["reused_run_id"] == third


def test_a_blob_added_to_a_reused_output_reruns_the_step(workspace: Workspace, source_dir: Path,
                                                         experiment_name: str) -> None:
    destination = f"fixed-{uuid.uuid4().hex[:8]}/shared"
    pipeline = _pipeline(workspace, source_dir, destination)
    first, _ = _run(workspace, experiment_name, pipeline, "one")
    workspace.get_default_datastore()._container.upload_blob(f"{destination}/planted.txt", b"not from run 1")

    _, details = _run(workspace, experiment_name, pipeline, "one")

    assert not details["is_reused"]
    assert details["reuse"]["changed"] == [f"output 'shared' changed since run {first} (1 blob differs)"]


def test_output_change_counts_what_differs() -> None:
    written = [("out/a", "e1", 1), ("out/b", "e2", 1), ("out/c", "e3", 1)]
    recorded = output_manifest(written, "out")
    assert output_change(recorded, written, "out") is None
    assert output_change(recorded, [("out/a", "e1", 1), ("out/b", "x", 1), ("out/d", "e4", 1)], "out") == \
        "3 blobs differ"  # b rewritten, c deleted, d added
    # an upload's own ETag wins over a listing that already saw someone else's write
    raced = output_manifest([("out/a", "theirs", 1)], "out", {"out/a": "mine"})
    assert output_change(raced, [("out/a", "theirs", 1)], "out") == "1 blob differs"


def test_a_manifest_too_large_to_store_keeps_count_and_digest() -> None:
    many = [(f"out/part-{i:06d}.csv", f"0x8DC{i:012X}", 1) for i in range(2000)]
    manifests = fit_manifests({"big": output_manifest(many, "out"), "small": output_manifest(many[:1], "out")})
    assert len(str(manifests)) < MAX_MANIFEST_CHARS
    assert manifests["big"]["count"] == 2000 and "blobs" not in manifests["big"]
    changed = many[:-1] + [("out/part-001999.csv", "rewritten", 1)]
    assert output_change(manifests["big"], changed, "out") == \
        "its 2000 recorded blobs no longer match the 2000 there now"
    assert output_change(manifests["big"], many, "out") is None
