"""Whole pipelines on a local workspace (Azurite): data passing, reuse, reruns, failures, logs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from pipeline_core import (
    DataPath,
    DataPathComputeBinding,
    DataReference,
    Experiment,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.errors import AmliteError, StepFailedError

pytestmark = pytest.mark.integration

PREP = """
import argparse, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--raw"); p.add_argument("--out"); p.add_argument("--scale", type=float)
a = p.parse_args()
raw = pathlib.Path(a.raw)
text = (raw if raw.is_file() else next(raw.iterdir())).read_text()
os.makedirs(a.out, exist_ok=True)
values = [float(v) * a.scale for v in text.split()]
pathlib.Path(a.out, "prepared.txt").write_text(" ".join(str(v) for v in values))
print("prepared", len(values), "values")
"""

TRAIN = """
import argparse, os, pathlib
from helper import summarise
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--model")
a = p.parse_args()
values = [float(v) for v in pathlib.Path(a.data, "prepared.txt").read_text().split()]
pathlib.Path(a.model).mkdir(parents=True, exist_ok=True)
pathlib.Path(a.model, "model.txt").write_text(summarise(values))
print("trained on", len(values), "values; env", os.environ.get("AML_PARAMETER_mode"))
"""


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def _two_step(ws: Workspace, src: Path, raw_path: str) -> Pipeline:
    store = ws.get_default_datastore()
    raw = PipelineParameter("raw", DataPath(datastore=store, path_on_datastore=raw_path))
    raw_in = (raw, DataPathComputeBinding(mode="mount"))
    scale = PipelineParameter("scale", 2.0)
    prepared = PipelineData("prepared", datastore=store)
    model = OutputFileDatasetConfig("model")
    prep = PythonScriptStep("prep.py", name="prep", source_directory=str(src), inputs=[raw_in],
                            outputs=[prepared], arguments=["--raw", raw_in, "--out", prepared, "--scale", scale])
    train = PythonScriptStep("train.py", name="train", source_directory=str(src), inputs=[prepared],
                             arguments=["--data", prepared, "--model", model], params={"mode": "fast"})
    return Pipeline(ws, [prep, train])


@pytest.fixture
def project(workspace: Workspace, source_dir: Path, tmp_path: Path) -> tuple[Workspace, Path, str]:
    _write(source_dir, "prep.py", PREP)
    _write(source_dir, "train.py", TRAIN)
    _write(source_dir, "helper.py", "def summarise(v):\n    return f'sum={sum(v)}'\n")
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "numbers.txt").write_text("1 2 3")
    prefix = f"raw-{uuid.uuid4().hex[:8]}"
    workspace.get_default_datastore().upload(str(raw_dir), target_path=prefix, show_progress=False)
    return workspace, source_dir, f"{prefix}/numbers.txt"


def _model_text(run, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    folder = run.find_step_run("train")[0].get_output_data("model").download(str(tmp_path / uuid.uuid4().hex),
                                                                             show_progress=False)
    return (Path(folder) / "model.txt").read_text()


def test_two_step_run_then_rerun_reuses_both(project, experiment_name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, src, raw_path = project
    pipeline = _two_step(ws, src, raw_path)
    started = time.perf_counter()
    first = Experiment(ws, experiment_name).submit(pipeline)
    assert first.wait_for_completion(show_output=False) == "Finished"
    first_seconds = time.perf_counter() - started
    assert _model_text(first, tmp_path) == "sum=12.0"
    steps = {s.name: s for s in first.get_steps()}
    assert not steps["prep"].is_reused and not steps["train"].is_reused
    ref = steps["prep"].get_outputs()["prepared"].get_port_data_reference()
    assert ref.datastore_name == "workspaceblobstore" and ref.path_on_datastore == f"azureml/{first.id}_prep/prepared"  # AML's layout
    assert "prepared 3 values" in steps["prep"].get_job_log()
    assert "env fast" in steps["train"].get_stdout_log()
    # stdout.txt is what the script printed; amlite's own lines are in the job log only
    assert steps["prep"].get_stdout_log() == "prepared 3 values\n"
    assert f"[amlite] step 'prep' of run {first.id}" in steps["prep"].get_job_log()

    started = time.perf_counter()
    second = Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path))
    assert second.wait_for_completion(show_output=False) == "Finished"
    rerun_seconds = time.perf_counter() - started
    again = {s.name: s for s in second.get_steps()}
    assert again["prep"].is_reused and again["train"].is_reused
    assert again["prep"].reused_run_id == first.id
    details = again["train"].get_details()
    assert details["reuse"]["decision"] == "reused" and "snapshot" in details["reuse"]["matched"]
    assert _model_text(second, tmp_path) == "sum=12.0"
    assert rerun_seconds < first_seconds


def test_parameters_change_rerun_and_reach_the_script(project, experiment_name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, src, raw_path = project
    pipeline = _two_step(ws, src, raw_path)
    first = Experiment(ws, experiment_name).submit(pipeline)
    first.wait_for_completion(show_output=False)
    second = Experiment(ws, experiment_name).submit(pipeline, pipeline_parameters={"scale": 10})
    second.wait_for_completion(show_output=False)
    assert _model_text(second, tmp_path) == "sum=60.0"
    prep = second.find_step_run("prep")[0]
    assert not prep.is_reused
    assert prep.get_details()["reuse"]["changed"] == ["arguments"]


def test_changed_input_blob_reruns_the_consumer(project, experiment_name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, src, raw_path = project
    first = Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path))
    first.wait_for_completion(show_output=False)
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "numbers.txt").write_text("5 5")
    ws.get_default_datastore().upload(str(changed), target_path=raw_path.rsplit("/", 1)[0], overwrite=True,
                                      show_progress=False)
    second = Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path))
    second.wait_for_completion(show_output=False)
    prep = second.find_step_run("prep")[0]
    assert not prep.is_reused
    assert "input datapath:raw" in prep.get_details()["reuse"]["changed"]
    assert _model_text(second, tmp_path) == "sum=20.0"


def test_touched_helper_file_reruns_its_step(project, experiment_name: str) -> None:  # type: ignore[no-untyped-def]
    ws, src, raw_path = project
    Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path)).wait_for_completion(show_output=False)
    (src / "helper.py").write_text("def summarise(v):\n    return f'total={sum(v)}'\n")
    second = Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path))
    second.wait_for_completion(show_output=False)
    # Both scripts share one source_directory, so both snapshots changed: AML's trap was reusing here.
    assert not second.find_step_run("train")[0].is_reused
    assert "snapshot" in second.find_step_run("train")[0].get_details()["reuse"]["changed"]


def test_allow_reuse_false_and_regenerate_outputs_force_a_run(project, experiment_name: str) -> None:  # type: ignore[no-untyped-def]
    ws, src, raw_path = project
    Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path)).wait_for_completion(show_output=False)
    forced = Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path), regenerate_outputs=True)
    forced.wait_for_completion(show_output=False)
    assert not any(s.is_reused for s in forced.get_steps())


def test_failing_script_fails_its_step_and_keeps_upstream_outputs(project, experiment_name: str,
                                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, src, raw_path = project
    _write(src, "train.py", "import sys\nprint('starting')\nprint('bad column: price', file=sys.stderr)\nsys.exit(3)\n")
    run = Experiment(ws, experiment_name).submit(_two_step(ws, src, raw_path))
    with pytest.raises(StepFailedError, match="train"):
        run.wait_for_completion(show_output=False)
    assert run.get_status() == "Failed"
    train = run.find_step_run("train")[0]
    error = train.get_details()["error"]
    assert "exited with code 3" in error["message"] and "bad column: price" in error["message"]
    assert "bad column: price" in train.get_stderr_log()
    prep = run.find_step_run("prep")[0]
    assert prep.get_status() == "Finished"
    folder = prep.get_output_data("prepared").download(str(tmp_path / "kept"), show_progress=False)
    assert (Path(folder) / "prepared.txt").read_text() == "2.0 4.0 6.0"
    assert "step 'train' failed" in run.get_details()["error"]["message"]


def test_data_reference_input_and_unknown_parameter(workspace: Workspace, source_dir: Path,
                                                    experiment_name: str, tmp_path: Path) -> None:
    _write(source_dir, "count.py", "import sys, os\nprint('files:', sorted(os.listdir(sys.argv[1])))\n")
    data = tmp_path / "d"
    data.mkdir()
    for i in range(3):
        (data / f"f{i}.txt").write_text(str(i))
    prefix = f"ref-{uuid.uuid4().hex[:8]}"
    store = workspace.get_default_datastore()
    store.upload(str(data), target_path=prefix, show_progress=False)
    ref = DataReference(datastore=store, data_reference_name="files", path_on_datastore=prefix)
    step = PythonScriptStep("count.py", name="count", arguments=[ref], inputs=[ref], source_directory=str(source_dir))
    pipeline = Pipeline(workspace, [step])
    run = Experiment(workspace, experiment_name).submit(pipeline)
    run.wait_for_completion(show_output=False)
    assert "files: ['f0.txt', 'f1.txt', 'f2.txt']" in run.find_step_run("count")[0].get_job_log()
    from pipeline_core.engine.submit import ParameterError

    with pytest.raises(ParameterError, match="unknown pipeline parameter 'nope'"):
        Experiment(workspace, experiment_name).submit(pipeline, pipeline_parameters={"nope": 1})


def test_missing_input_data_is_a_validation_error(workspace: Workspace, source_dir: Path) -> None:
    _write(source_dir, "count.py", "print(1)\n")
    store = workspace.get_default_datastore()
    ref = DataReference(datastore=store, data_reference_name="absent", path_on_datastore=f"nothing/{uuid.uuid4()}")
    step = PythonScriptStep("count.py", name="count", arguments=[ref], inputs=[ref], source_directory=str(source_dir))
    errors = Pipeline(workspace, [step]).validate()
    assert len(errors) == 1 and errors[0].startswith("step 'count': input 'absent': no blobs found at")


def test_following_a_local_run_wakes_on_its_writes_instead_of_polling(
        workspace: Workspace, source_dir: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's own writes wake ``wait_for_completion``: no ten reads a second next to the steps' work."""
    from pipeline_core.storage.run_store import RunStore

    reads: list[float] = []

    def counting(original):  # type: ignore[no-untyped-def]
        def counted(self: RunStore, *args, **kwargs):  # type: ignore[no-untyped-def]
            reads.append(time.monotonic())
            return original(self, *args, **kwargs)
        return counted

    # A silent follower reads the run row; one that shows output reads the whole state: count both.
    monkeypatch.setattr(RunStore, "get_state", counting(RunStore.get_state))
    monkeypatch.setattr(RunStore, "get_run", counting(RunStore.get_run))
    _write(source_dir, "slow.py", "import time\ntime.sleep(3)\nprint('done')\n")
    step = PythonScriptStep(name="slow", script_name="slow.py", source_directory=str(source_dir),
                            allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    started = time.monotonic()
    assert run.wait_for_completion(show_output=False) == "Finished"
    waited = time.monotonic() - started
    assert waited >= 2.5
    # A 10 Hz poll would have read the state 25+ times; waking on writes (and a 1 s quiet poll) reads a handful.
    assert len(reads) <= 12, f"{len(reads)} state reads in {waited:.1f} s"


def test_a_silent_follower_of_a_busy_local_run_reads_it_about_once_a_second(
        workspace: Workspace, source_dir: Path, experiment_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``wait_for_completion(show_output=False)`` needs the run's end only: the steps' writes (a fan-out writes
    several a step) do not wake it for a read; the end still does, at once."""
    from datetime import datetime

    from pipeline_core.storage.run_store import RunStore

    reads: list[float] = []
    original = RunStore.get_run

    def counted(self: RunStore, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(time.monotonic())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RunStore, "get_run", counted)
    _write(source_dir, "tick.py", "import time\ntime.sleep(0.3)\n")
    steps = [PythonScriptStep(name=f"t{i}", script_name="tick.py", source_directory=str(source_dir),
                              allow_reuse=False) for i in range(24)]
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, steps))
    started = time.monotonic()
    assert run.wait_for_completion(show_output=False) == "Finished"
    returned, waited = time.time(), time.monotonic() - started
    ended = datetime.fromisoformat(str(run.get_details()["endTimeUtc"]).replace("Z", "+00:00")).timestamp()
    followed = [t for t in reads if started <= t <= started + waited]
    assert waited >= 1.0
    # Woken by every write, it read 10 times a second while the steps ran; now about once a second.
    assert len(followed) <= waited + 3, f"{len(followed)} run reads in {waited:.1f} s"
    assert returned - ended < 0.5  # the end still wakes it at once


def test_a_local_follower_returns_as_soon_as_the_run_ends(workspace: Workspace, source_dir: Path,
                                                         experiment_name: str) -> None:
    """The write that ends the run wakes ``wait_for_completion`` whatever it was doing: not up to a read
    interval later (every local run paid that at its end)."""
    from datetime import datetime

    _write(source_dir, "quick.py", "print('quick')\n")
    late = []
    for _ in range(5):
        steps = [PythonScriptStep(name=f"q{i}", script_name="quick.py", source_directory=str(source_dir),
                                  allow_reuse=False) for i in range(6)]
        for before, after in zip(steps, steps[1:]):
            after.run_after(before)
        run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, steps))
        assert run.wait_for_completion(show_output=False) == "Finished"
        returned = time.time()
        ended = datetime.fromisoformat(str(run.get_details()["endTimeUtc"]).replace("Z", "+00:00")).timestamp()
        late.append(returned - ended)
    assert sorted(late)[2] < 0.04, late


def test_a_source_folder_changed_after_the_pipeline_was_built_is_refused_by_name(workspace: Workspace,
                                                                                tmp_path: Path) -> None:
    """Snapshots upload side by side at submit; a folder edited since the build still stops the submit,
    naming its step, and the unchanged folder beside it does not hide the error."""
    steady, edited = tmp_path / "steady", tmp_path / "edited"
    for folder in (steady, edited):
        folder.mkdir()
        _write(folder, "noop.py", f"# {uuid.uuid4().hex}\n")
    pipeline = Pipeline(workspace, [
        PythonScriptStep("noop.py", name="steady", source_directory=str(steady), allow_reuse=False),
        PythonScriptStep("noop.py", name="edited", source_directory=str(edited), allow_reuse=False)])
    pipeline.spec()  # built: the snapshots' hashes are fixed now
    _write(edited, "noop.py", "print('changed')\n")
    experiment = Experiment(workspace, f"changed-{uuid.uuid4().hex[:8]}")
    with pytest.raises(AmliteError, match="step 'edited': source_directory .* changed since the pipeline was built"):
        experiment.submit(pipeline)
    assert list(experiment.get_runs()) == []
