"""CommandStep in a pipeline with a PythonScriptStep, run locally through the real orchestrator replay.

A list command is an argv (no shell: a ``;`` is just an argument); a string runs through a
shell with the step's variables; outputs pass to the next step; a failing command fails the
step with its exit code and stderr; cancel kills the command's whole process group; an
unchanged pipeline is reused.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from pipeline_core import (
    CommandStep,
    Experiment,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)

pytestmark = pytest.mark.integration

READ = ("import sys, pathlib\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "print('files', sorted(p.name for p in folder.iterdir()))\n"
        "for p in sorted(folder.iterdir()):\n"
        "    print(p.name, '=', p.read_text().strip())\n")


def _read_step(src: Path, data: PipelineData) -> PythonScriptStep:
    return PythonScriptStep("read.py", name="read", arguments=[data], inputs=[data], source_directory=str(src))


def test_argv_and_shell_commands_feed_a_script_step_and_are_reused(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    (source_dir / "read.py").write_text(READ)
    (source_dir / "write.sh").write_text('#!/bin/sh\nprintf "%s" "$2" > "$1/argv.txt"\n')
    greeting = PipelineParameter("greeting", default_value="hello; rm -rf /")

    def pipeline() -> Pipeline:
        made, shouted = PipelineData("made"), PipelineData("shouted")
        argv = CommandStep(["write.sh", made, greeting], name="argv", outputs=[made],
                           source_directory=str(source_dir))
        shell = CommandStep('cp "$AZUREML_DATAREFERENCE_made/argv.txt" "$AZUREML_DATAREFERENCE_shouted/" && '
                            'echo "$AML_PARAMETER_greeting" | tr a-z A-Z > "$AZUREML_DATAREFERENCE_shouted/shell.txt" '
                            '&& echo wrote it', name="shell", inputs=[made], outputs=[shouted],
                            source_directory=str(source_dir))
        return Pipeline(workspace, [argv, shell, _read_step(source_dir, shouted)])

    first = Experiment(workspace, experiment_name).submit(pipeline())
    assert first.wait_for_completion(show_output=False) == "Finished", first.get_details()
    read_log = first.find_step_run("read")[0].get_stdout_log()
    assert "shell.txt = HELLO; RM -RF /" in read_log  # the shell expanded the variable, never ran its text
    assert "argv.txt = hello; rm -rf /" in read_log  # one argv item, passed as is
    shell_log = first.find_step_run("shell")[0].get_job_log()
    assert "wrote it" in shell_log and "bash -c cp " in shell_log
    assert "(argv, no shell)" in first.find_step_run("argv")[0].get_job_log()

    again = Experiment(workspace, experiment_name).submit(pipeline())
    assert again.wait_for_completion(show_output=False) == "Finished"
    assert [again.find_step_run(n)[0].is_reused for n in ("argv", "shell", "read")] == [True, True, True]

    changed = Experiment(workspace, experiment_name).submit(pipeline(), pipeline_parameters={"greeting": "bye"})
    assert changed.wait_for_completion(show_output=False) == "Finished"
    assert not changed.find_step_run("shell")[0].is_reused
    assert "shell.txt = BYE" in changed.find_step_run("read")[0].get_stdout_log()


def test_argv_output_dataset_config_and_python_on_path(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    (source_dir / "make.py").write_text("import sys, pathlib\n"
                                        "pathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)\n"
                                        "pathlib.Path(sys.argv[1], 'n.txt').write_text(sys.argv[2])\n")
    (source_dir / "read.py").write_text(READ)
    out = OutputFileDatasetConfig("numbers")
    make = CommandStep(["python", "make.py", out, "42"], name="make", source_directory=str(source_dir))
    read = PythonScriptStep("read.py", name="read", arguments=[out.as_input()], source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [make, read]))
    assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
    assert "n.txt = 42" in run.find_step_run("read")[0].get_stdout_log()


def test_a_failing_command_fails_with_its_exit_code_and_stderr(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    (source_dir / "read.py").write_text(READ)
    out = PipelineData("never")
    fail = CommandStep("echo about to fail >&2; exit 7", name="fail", outputs=[out], source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [fail, _read_step(source_dir, out)]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    step = run.find_step_run("fail")[0]
    error = step.get_details()["error"]["message"]
    assert "exited with code 7" in error and "about to fail" in error
    assert run.find_step_run("read")[0].get_status() == "Canceled"

    missing = CommandStep(["no-such-program-amlite"], name="missing", source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [missing]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    assert "no-such-program-amlite" in run.find_step_run("missing")[0].get_details()["error"]["message"]


def test_cancel_kills_the_command_and_its_children(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path) -> None:
    marker = tmp_path / f"pid-{uuid.uuid4().hex[:6]}"
    step = CommandStep(f"sleep 300 & echo $! > {marker}; wait", name="sleepy", source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.2)
    child = int(marker.read_text())
    run.cancel()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Canceled"
    deadline = time.monotonic() + 15
    while _alive(child):
        assert time.monotonic() < deadline, f"the command's child {child} outlived the canceled step"
        time.sleep(0.2)
    assert run.find_step_run("sleepy")[0].get_status() == "Canceled"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


def test_the_declared_environment_python_comes_first_on_path(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_core.core import CondaDependencies, RunConfiguration

    monkeypatch.setenv("AMLITE_CACHE_DIR", str(tmp_path / "cache"))  # a venv of its own, built here
    config = RunConfiguration(conda_dependencies=CondaDependencies.create(pip_packages=["text-unidecode==1.3"]))
    step = CommandStep("python -c \"import text_unidecode as t; print('converted', t.unidecode('Zürich'))\"",
                       name="convert", runconfig=config, source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Finished", run.get_details()
    log = run.find_step_run("convert")[0].get_job_log()
    assert "converted Zurich" in log and "ready in" in log
