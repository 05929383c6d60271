"""A driver script that submits a local run and does not wait for it (#13's silent divergence).

The process must finish its run and exit: no hang, no "cannot schedule new
futures after shutdown", no run left Running. A driver that raises after the
submit exits with its error, and the run still finishes. A driver killed
mid-run hands it over: the next local engine on the same storage (here, the
next driver) resumes it and finishes it before exiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_process import REPO_ROOT, host_env, kill_group, pid_of, run_status, runs_of, step_script, until

from amlite_devhost.durable.store import OrchestrationStore
from pipeline_core import Workspace

pytestmark = pytest.mark.timeout(90)
FUTURES_ERROR = "cannot schedule new futures"


def _driver(tmp_path: Path, azurite: str, source: Path, after: str = "") -> Path:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace

        ws = Workspace(storage={azurite!r})
        step = PythonScriptStep("step.py", name="step", source_directory={str(source)!r}, allow_reuse=False)
        run = Experiment(ws, "drivers").submit(Pipeline(ws, [step]))
        open({str(tmp_path / "run_id")!r}, "w").write(run.id)
    """) + after)
    return script


def _run(script: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "counters"
    folder.mkdir()
    try:
        yield folder
    finally:
        kill_group(pid_of(folder, "step"))


@pytest.mark.parametrize("after, code", [("", 0), ("raise RuntimeError('the driver failed after its submit')\n", 1)])
def test_a_driver_that_does_not_wait_finishes_its_run_and_exits(azurite: str, tmp_path: Path, counters: Path,
                                                                after: str, code: int) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "step.py").write_text(step_script(counters, "step", "time.sleep(1)"))
    env = host_env(azurite)
    env.pop("AMLITE_QUIET")
    done = _run(_driver(tmp_path, azurite, source, after), env)
    assert done.returncode == code, done.stderr
    assert FUTURES_ERROR not in done.stderr, done.stderr
    assert "waiting for 1 local run(s) to finish" in done.stderr
    run_id = (tmp_path / "run_id").read_text()
    assert run_status(Workspace(storage=azurite), run_id) == "Finished"
    assert runs_of(counters, "step") == 1


def test_a_killed_driver_hands_its_run_to_the_next_local_engine(azurite: str, tmp_path: Path,
                                                                counters: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "step.py").write_text(step_script(counters, "step", "if runs == 1:\n    time.sleep(600)"))
    env = host_env(azurite)
    first = subprocess.Popen([sys.executable, str(_driver(tmp_path, azurite, source))], cwd=REPO_ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        until(lambda: runs_of(counters, "step") == 1, 40, "the step started")
        run_id = (tmp_path / "run_id").read_text()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        kill_group(pid_of(counters, "step"))  # what the dead driver left (the step runner's job, not tested here)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    ws = Workspace(storage=azurite)
    assert run_status(ws, run_id) == "Running"

    (tmp_path / "next").mkdir()
    other = tmp_path / "next" / "src"
    other.mkdir()
    (other / "step.py").write_text("pass\n")
    done = _run(_driver(tmp_path / "next", azurite, other), env)  # any later local run on the same storage
    assert done.returncode == 0, done.stderr
    assert run_status(ws, run_id) == "Finished"
    assert runs_of(counters, "step") == 2
    next_id = (tmp_path / "next" / "run_id").read_text()
    assert run_status(ws, next_id) == "Finished"
    # Both orchestrations' last episodes were stored before Python's exit stopped the thread pools (the Tables
    # SDK parses a batch answer on one): before, the resumed run's was lost at exit, so the task hub kept it
    # Running and every later engine on the storage replayed it again.
    assert "storing orchestration" not in done.stderr, done.stderr
    store = OrchestrationStore(azurite, env["AMLITE_TASK_HUB"], owner="test")
    assert {i: getattr(store.get(i), "status", None) for i in (run_id, next_id)} == {
        run_id: "Completed", next_id: "Completed"}

