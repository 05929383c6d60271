"""Pipelines through the Durable orchestrator (the dev host's engine, in process) against Azurite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from pipeline_core import Experiment, Pipeline, PipelineData, PythonScriptStep, Workspace
from pipeline_core.engine import activities
from pipeline_core.engine.orphans import mark_orphaned_runs
from pipeline_core.engine.services import services_for
from pipeline_core.storage.run_store import RUN_ROW, RunStore, step_key

pytestmark = pytest.mark.integration

WRITE = "import sys, pathlib\\npathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)\\n" \
        "pathlib.Path(sys.argv[1], 'out.txt').write_text('{name}')\\n"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _script(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(body)


def test_diamond_runs_branches_concurrently(workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    _script(source_dir, "a.py", "import sys, pathlib\npathlib.Path(sys.argv[1], 'a.txt').write_text('a')\n")
    _script(source_dir, "branch.py", "import time, sys\ntime.sleep(1.0)\nprint('branch', sys.argv[1:])\n")
    _script(source_dir, "d.py", "print('joined')\n")
    a_out, b_out, c_out = PipelineData("a_out"), PipelineData("b_out"), PipelineData("c_out")
    a = PythonScriptStep("a.py", name="A", arguments=[a_out], outputs=[a_out], source_directory=str(source_dir))
    b = PythonScriptStep("branch.py", name="B", arguments=[a_out, b_out], inputs=[a_out], outputs=[b_out],
                         source_directory=str(source_dir), allow_reuse=False)
    c = PythonScriptStep("branch.py", name="C", arguments=[a_out, c_out], inputs=[a_out], outputs=[c_out],
                         source_directory=str(source_dir), allow_reuse=False)
    d = PythonScriptStep("d.py", name="D", arguments=[b_out, c_out], inputs=[b_out, c_out],
                         source_directory=str(source_dir), allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [a, b, c, d]))
    assert run.wait_for_completion(show_output=False) == "Finished"
    steps = RunStore(workspace.account).get_state(run.id).steps
    b_row, c_row, d_row = steps["B"], steps["C"], steps["D"]
    assert _ts(b_row["start_time"]) < _ts(c_row["end_time"]) and _ts(c_row["start_time"]) < _ts(b_row["end_time"])
    assert _ts(d_row["start_time"]) >= max(_ts(b_row["end_time"]), _ts(c_row["end_time"]))


def test_cancel_stops_the_running_step_and_keeps_finished_outputs(workspace: Workspace, source_dir: Path,
                                                                  experiment_name: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid.txt"
    _script(source_dir, "a.py", "import sys, pathlib\npathlib.Path(sys.argv[1], 'kept.txt').write_text('kept')\n")
    _script(source_dir, "long.py", "import os, sys, time\nopen(sys.argv[2], 'w').write(str(os.getpid()))\n"
                                   "time.sleep(120)\n")
    data = PipelineData("data")
    a = PythonScriptStep("a.py", name="first", arguments=[data], outputs=[data], source_directory=str(source_dir))
    b = PythonScriptStep("long.py", name="long", arguments=[data, str(pid_file)], inputs=[data],
                         source_directory=str(source_dir), allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [a, b]))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the long step never started"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    started = time.monotonic()
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=10) == "Canceled"
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert run.find_step_run("long")[0].get_status() == "Canceled"
    kept = run.find_step_run("first")[0].get_output_data("data").download(str(tmp_path / "out"), show_progress=False)
    assert (Path(kept) / "kept.txt").read_text() == "kept"


def test_continue_on_step_failure_finishes_the_other_branch(workspace: Workspace, source_dir: Path,
                                                            experiment_name: str) -> None:
    _script(source_dir, "fail.py", "import sys\nprint('no such column', file=sys.stderr)\nsys.exit(2)\n")
    _script(source_dir, "ok.py", "import time\ntime.sleep(0.5)\nprint('ok')\n")
    broken = PipelineData("broken")
    fine = PipelineData("fine")
    bad = PythonScriptStep("fail.py", name="bad", arguments=[broken], outputs=[broken],
                           source_directory=str(source_dir), allow_reuse=False)
    after_bad = PythonScriptStep("ok.py", name="after_bad", arguments=[broken], inputs=[broken],
                                 source_directory=str(source_dir), allow_reuse=False)
    good = PythonScriptStep("ok.py", name="good", arguments=[fine], outputs=[fine],
                            source_directory=str(source_dir), allow_reuse=False)
    after_good = PythonScriptStep("ok.py", name="after_good", arguments=[fine], inputs=[fine],
                                  source_directory=str(source_dir), allow_reuse=False)
    pipeline = Pipeline(workspace, [bad, after_bad, good, after_good])
    run = Experiment(workspace, experiment_name).submit(pipeline, continue_on_step_failure=True)
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    status = {s.name: s.get_status() for s in run.get_steps()}
    assert status == {"bad": "Failed", "after_bad": "Canceled", "good": "Finished", "after_good": "Finished"}
    assert "step 'bad' failed" in run.get_details()["error"]["message"]


def test_fail_fast_cancels_the_running_sibling(workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    _script(source_dir, "fail.py", "import sys, time\ntime.sleep(0.3)\nsys.exit(1)\n")
    _script(source_dir, "slow.py", "import time\ntime.sleep(60)\n")
    bad = PythonScriptStep("fail.py", name="bad", source_directory=str(source_dir), allow_reuse=False)
    slow = PythonScriptStep("slow.py", name="slow", source_directory=str(source_dir), allow_reuse=False)
    started = time.monotonic()
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [bad, slow]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False, timeout_seconds=30) == "Failed"
    assert time.monotonic() - started < 15
    assert run.find_step_run("slow")[0].get_status() == "Canceled"


def test_step_retry_reruns_a_failed_attempt(workspace: Workspace, source_dir: Path, experiment_name: str,
                                            tmp_path: Path) -> None:
    marker = tmp_path / "attempts.txt"
    _script(source_dir, "flaky.py", "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
                                    "n = int(p.read_text()) + 1 if p.exists() else 1\np.write_text(str(n))\n"
                                    "sys.exit(0 if n >= 2 else 5)\n")
    step = PythonScriptStep("flaky.py", name="flaky", arguments=[str(marker)], source_directory=str(source_dir),
                            allow_reuse=False).set_retry(max_attempts=3, first_retry_interval_seconds=0.2)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    assert marker.read_text() == "2"
    row = RunStore(workspace.account).get_step(run.id, "flaky")
    assert row["attempt"] == 2


def test_redelivered_activity_returns_the_recorded_result(workspace: Workspace, source_dir: Path,
                                                          experiment_name: str) -> None:
    _script(source_dir, "a.py", "print('once')\n")
    step = PythonScriptStep("a.py", name="once", source_directory=str(source_dir), allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    run.wait_for_completion(show_output=False)
    store = RunStore(workspace.account)
    before = store.get_step(run.id, "once")
    again = activities.run_step(services_for(workspace.storage), run.id, "once")
    after = store.get_step(run.id, "once")
    assert again["status"] == "Finished"
    assert after["etag"] == before["etag"]  # nothing was written a second time


def test_runs_of_a_killed_host_end_failed_with_the_reason(workspace: Workspace) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with open("/proc/self/stat") as handle:  # any start value: the pid no longer exists
        start = handle.read().rsplit(")", 1)[1].split()[19]
    store = RunStore(workspace.account)
    run_id = str(uuid.uuid4())
    store.create_run(run_id, "orphans", {"graph_id": "g"}, [("s1", {}), ("s2", {})])
    host_id = f"{os.uname().nodename}/{gone.pid}/{start}"
    store.transition(run_id, RUN_ROW, "Running", {"host_id": host_id})
    store.transition(run_id, step_key("s1"), "Running")
    ended = mark_orphaned_runs(services_for(workspace.storage))
    assert run_id in ended
    state = store.get_state(run_id)
    assert state.run["status"] == "Failed"
    assert f"pid {gone.pid}" in state.run["error"]["message"] and "stopped before the run finished" in \
        state.run["error"]["message"]
    assert state.steps["s1"]["status"] == "Failed" and state.steps["s2"]["status"] == "Canceled"
