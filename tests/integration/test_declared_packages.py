"""Steps that declare packages the app lacks run on a cached venv of them (PythonScriptStep and ParallelRunStep)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace
from pipeline_core.core import CondaDependencies, Environment, RunConfiguration
from pipeline_core.core.dataset import Dataset
from pipeline_core.data import OutputFileDatasetConfig
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep

pytestmark = pytest.mark.integration
PACKAGE, MODULE = "text-unidecode==1.3", "text_unidecode"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_CACHE_DIR", str(tmp_path / "cache"))


def _log(run, step: str) -> str:  # type: ignore[no-untyped-def]
    return run.find_step_run(step)[0].get_job_log()


def test_a_script_step_imports_its_declared_package_and_reuse_follows_the_declaration(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    import subprocess

    assert subprocess.run([sys.executable, "-c", f"import {MODULE}"], capture_output=True).returncode != 0
    (source_dir / "use.py").write_text(f"import {MODULE}\nprint('converted', {MODULE}.unidecode('Zürich'))\n")

    def pipeline(packages: list[str]) -> Pipeline:
        config = RunConfiguration(conda_dependencies=CondaDependencies.create(pip_packages=packages))
        return Pipeline(workspace, [PythonScriptStep(name="use", script_name="use.py",
                                                     source_directory=str(source_dir), runconfig=config)])

    experiment = Experiment(workspace, experiment_name)
    first = experiment.submit(pipeline([PACKAGE]))
    assert first.wait_for_completion(show_output=False, raise_on_error=False) == "Finished"
    log = _log(first, "use")
    assert "converted Zurich" in log and "building the step environment" in log and "ready in" in log
    second = experiment.submit(pipeline([PACKAGE]))
    assert second.wait_for_completion(show_output=False) == "Finished"
    assert second.find_step_run("use")[0].is_reused
    third = experiment.submit(pipeline([PACKAGE, "six"]))  # another declaration: another venv, run again
    assert third.wait_for_completion(show_output=False) == "Finished"
    step = third.find_step_run("use")[0]
    assert not step.is_reused and "converted Zurich" in step.get_job_log()

    bad = experiment.submit(pipeline(["amlite-no-such-package-xyz==0.0.1"]))
    assert bad.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    assert "amlite-no-such-package-xyz" in str(bad.find_step_run("use")[0].get_details().get("error"))


def test_parallel_run_workers_use_the_declared_environment(workspace: Workspace, source_dir: Path, tmp_path: Path,
                                                           experiment_name: str) -> None:
    (source_dir / "score.py").write_text(
        f"import os, {MODULE}\n"
        "def init():\n    pass\n"
        f"def run(mini_batch):\n    return [{MODULE}.unidecode(os.path.basename(p)) for p in mini_batch]\n")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("Zürich.txt", "Genève.txt"):
        (data / name).write_text("x")
    workspace.get_default_datastore().upload(str(data), target_path=f"{experiment_name}-in", show_progress=False)
    files = Dataset.File.from_files((workspace.get_default_datastore(), f"{experiment_name}-in/**"))
    env = Environment("scoring")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=[PACKAGE])
    config = ParallelRunConfig(source_directory=str(source_dir), entry_script="score.py", mini_batch_size=1,
                               error_threshold=0, output_action="append_row", environment=env,
                               compute_target=None, node_count=1, process_count_per_node=2)
    step = ParallelRunStep("score", config, inputs=[files.as_named_input("files")],
                           output=OutputFileDatasetConfig("scores"))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Finished", run.get_details()
    ref = run.find_step_run("score")[0].get_output_data("scores")
    blob = run._services.container_for(ref.datastore_name).download_blob(f"{ref.path_on_datastore}/parallel_run_step.txt")
    assert sorted(blob.readall().decode().split()) == ["Geneve.txt", "Zurich.txt"]
