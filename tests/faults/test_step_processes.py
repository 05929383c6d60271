"""No step process outlives its step: timeout, cancel, normal exit, a killed host; and a step outlives storage blips.

Real processes throughout: steps start grandchildren that ignore SIGTERM, hosts are separate
Python processes killed with SIGKILL, storage is a real Azurite stopped and restarted. What is
left is read from /proc (every step process inherits ``AMLITE_RUN_ID``), never assumed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from proc_support import alive, kill_all, processes_of_run, read_pids, wait_until

from pipeline_core import (
    Experiment,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    RunConfiguration,
    Workspace,
)
from pipeline_core.engine import activities
from pipeline_core.engine.services import services_for
from pipeline_core.engine.submit import create_run
from pipeline_core.execution.binding import output_location
from pipeline_core.execution.logs import LOGS_CONTAINER, StepLog
from pipeline_core.execution.process import run_process
from pipeline_core.execution.step_outputs import ATTEMPT_KEY
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.rest.runs.entities import step_entity
from pipeline_core.storage.azurite import AzuritePorts, ensure_azurite
from pipeline_core.storage.run_store import RunStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# argv: marks folder, seconds to sleep, and "ignore" for a grandchild that ignores SIGTERM.
TREE = """
import os, pathlib, subprocess, sys, time
marks = pathlib.Path(sys.argv[1]); marks.mkdir(parents=True, exist_ok=True)
ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if sys.argv[3:] == ["ignore"] else ""
subprocess.Popen([sys.executable, "-c", "import os, pathlib, signal, sys, time\\n" + ignore + "\\n"
                  "pathlib.Path(sys.argv[1], 'grandchild.pid').write_text(str(os.getpid()))\\n"
                  "time.sleep(300)", str(marks)])
(marks / "script.pid").write_text(str(os.getpid()))
time.sleep(float(sys.argv[2]))
"""

# A child in its own session that ignores SIGTERM, left behind by a script that exits 0.
LEAVE = """
import os, pathlib, subprocess, sys, time
marks = pathlib.Path(sys.argv[1]); marks.mkdir(parents=True, exist_ok=True)
subprocess.Popen([sys.executable, "-c", "import os, pathlib, signal, sys, time\\nos.setsid()\\n"
                  "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
                  "pathlib.Path(sys.argv[1], 'left.pid').write_text(str(os.getpid()))\\n"
                  "time.sleep(300)", str(marks)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while not (marks / "left.pid").exists():
    time.sleep(0.01)
print("done; leaving a child behind")
"""

NAP = "import pathlib, sys, time\ntime.sleep(float(sys.argv[1]))\n" \
      "pathlib.Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)\npathlib.Path(sys.argv[2], 'n.txt').write_text('n')\n"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _write(folder: Path, **scripts: str) -> None:
    for name, body in scripts.items():
        (folder / f"{name}.py").write_text(body)


def _limit(seconds: int) -> RunConfiguration:
    config = RunConfiguration()
    config.max_run_duration_seconds = seconds
    return config


@pytest.fixture
def leftovers() -> Any:
    """Pids the test saw; whatever is still alive at the end (a failed assertion) is killed."""
    seen: list[int] = []
    yield seen
    kill_all([pid for pid in seen if alive(pid)])


# -- timeout ------------------------------------------------------------------------
@pytest.mark.parametrize("continue_on_step_failure", [True, False])
def test_a_step_past_its_max_run_duration_fails_within_seconds_and_leaves_no_process(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path, leftovers: list[int],
        continue_on_step_failure: bool) -> None:
    _write(source_dir, tree=TREE, nap=NAP, ok="print('ran')\n")
    marks = tmp_path / "marks"
    slow_out, other_out = PipelineData("slow_out"), PipelineData("other_out")
    slow = PythonScriptStep("tree.py", name="slow", arguments=[str(marks), "60", "default", slow_out],
                            outputs=[slow_out],
                            source_directory=str(source_dir), allow_reuse=False, runconfig=_limit(2))
    after = PythonScriptStep("ok.py", name="after_slow", arguments=[slow_out], inputs=[slow_out],
                             source_directory=str(source_dir), allow_reuse=False)
    # The sibling outlives the timeout by a few seconds: it finishes, or the fail-fast policy cancels it.
    other = PythonScriptStep("nap.py", name="other", arguments=["6", other_out], outputs=[other_out],
                             source_directory=str(source_dir), allow_reuse=False)
    pipeline = Pipeline(workspace, [slow, after, other])
    assert pipeline.spec().step("slow")["max_run_duration_seconds"] == 2
    run = Experiment(workspace, experiment_name).submit(pipeline, continue_on_step_failure=continue_on_step_failure)
    pids = read_pids(marks, count=2)
    leftovers.extend(pids)
    store = RunStore(workspace.account)
    assert wait_until(lambda: store.get_step(run.id, "slow")["status"] == "Failed", 15)
    assert not [pid for pid in pids if alive(pid)]  # gone by the time the step says Failed
    row = store.get_step(run.id, "slow")
    assert "timed out after 2 s" in row["error"]["message"]
    assert row["error"].get("timed_out") is True
    assert (_ts(row["end_time"]) - _ts(row["start_time"])).total_seconds() <= 5
    assert run.wait_for_completion(show_output=False, timeout_seconds=30, raise_on_error=False) == "Failed"
    status = {s.name: s.get_status() for s in run.get_steps()}
    expected_other = "Finished" if continue_on_step_failure else "Canceled"
    assert status == {"slow": "Failed", "after_slow": "Canceled", "other": expected_other}
    assert processes_of_run(run.id) == []


def test_the_app_limit_caps_a_larger_max_run_duration(monkeypatch: pytest.MonkeyPatch, workspace: Workspace,
                                                      source_dir: Path, experiment_name: str) -> None:
    from pipeline_core.execution.step_settings import step_settings

    _write(source_dir, nap=NAP)
    monkeypatch.setenv("AMLITE_STEP_TIMEOUT_SECONDS", "1")
    step_settings.cache_clear()
    try:
        step = PythonScriptStep("nap.py", name="capped", arguments=["30", "out"], source_directory=str(source_dir),
                                allow_reuse=False, runconfig=_limit(3600))
        run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
        assert run.wait_for_completion(show_output=False, timeout_seconds=20, raise_on_error=False) == "Failed"
    finally:
        monkeypatch.delenv("AMLITE_STEP_TIMEOUT_SECONDS")
        step_settings.cache_clear()
    message = run.find_step_run("capped")[0].get_details()["error"]["message"]
    assert "timed out after 1 s" in message and "AMLITE_STEP_TIMEOUT_SECONDS=1" in message


# -- cancel and normal exit ---------------------------------------------------------
def test_cancel_ends_a_grandchild_that_ignores_sigterm(workspace: Workspace, source_dir: Path, experiment_name: str,
                                                        tmp_path: Path, leftovers: list[int]) -> None:
    _write(source_dir, tree=TREE)
    marks = tmp_path / "marks"
    step = PythonScriptStep("tree.py", name="tree", arguments=[str(marks), "120", "ignore"],
                            source_directory=str(source_dir), allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    pids = read_pids(marks, count=2)
    leftovers.extend(pids)
    assert sorted(processes_of_run(run.id)) != []
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=20, raise_on_error=False) == "Canceled"
    assert not [pid for pid in pids if alive(pid)]
    assert processes_of_run(run.id) == []


def test_a_child_left_by_a_step_that_exits_0_is_ended(workspace: Workspace, source_dir: Path, experiment_name: str,
                                                      tmp_path: Path, leftovers: list[int]) -> None:
    _write(source_dir, leave=LEAVE)
    marks = tmp_path / "marks"
    step = PythonScriptStep("leave.py", name="leave", arguments=[str(marks)], source_directory=str(source_dir),
                            allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=30) == "Finished"
    left = int((marks / "left.pid").read_text())
    leftovers.append(left)
    assert not alive(left)  # it left the process group (setsid) and ignored SIGTERM: ended all the same
    assert processes_of_run(run.id) == []
    assert "leaving a child behind" in run.find_step_run("leave")[0].get_job_log()


def test_a_failing_cancel_check_is_retried_and_never_stops_the_step(workspace: Workspace, tmp_path: Path) -> None:
    from azure.core.exceptions import ServiceRequestError

    calls = {"n": 0}

    def storage_down() -> str | None:
        calls["n"] += 1
        raise ServiceRequestError("connection refused")

    run_id = f"unit-{uuid.uuid4().hex[:8]}"
    log = StepLog(workspace.account.container(LOGS_CONTAINER), run_id, "s", tmp_path / "log.txt")
    result = run_process([sys.executable, "-c", "import time; time.sleep(1.5); print('survived')"], tmp_path,
                         {"PATH": os.environ["PATH"]}, log, should_stop=storage_down, poll_seconds=0.1)
    log.close()
    assert result.exit_code == 0 and result.stopped is None and calls["n"] >= 5
    assert "survived" in (tmp_path / "log.txt").read_text()

    answers = iter([ServiceRequestError("down"), ServiceRequestError("down"), "canceled"])

    def comes_back() -> str | None:
        answer = next(answers, "canceled")
        if isinstance(answer, Exception):
            raise answer
        return answer

    log = StepLog(workspace.account.container(LOGS_CONTAINER), run_id, "t", tmp_path / "log2.txt")
    started = time.monotonic()
    result = run_process([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path,
                         {"PATH": os.environ["PATH"]}, log, should_stop=comes_back, poll_seconds=0.1)
    log.close()
    assert result.canceled and time.monotonic() - started < 5


# -- host death ---------------------------------------------------------------------
HOST = """
import sys
from pipeline_core import Experiment, Pipeline, Workspace
from pipeline_core.pipeline.steps import PythonScriptStep
ws = Workspace(storage=sys.argv[1])
step = PythonScriptStep("tree.py", name="tree", arguments=[sys.argv[3], "300", "ignore"], source_directory=sys.argv[2],
                        allow_reuse=False)
run = Experiment(ws, sys.argv[4]).submit(Pipeline(ws, [step]))
print(run.id, flush=True)
run.wait_for_completion(show_output=False)
"""

PRS_HOST = """
import sys
from pipeline_core import Pipeline, Workspace
from pipeline_core.core.dataset import Dataset
from pipeline_core.data import OutputFileDatasetConfig
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep
ws = Workspace(storage=sys.argv[1])
ds = Dataset.File.from_files(path=(ws.get_default_datastore(), sys.argv[5] + "/**"))
config = ParallelRunConfig(environment=None, entry_script="hang.py", error_threshold=-1, output_action="append_row",
                           compute_target=None, node_count=1, process_count_per_node=2, mini_batch_size=1,
                           source_directory=sys.argv[2], run_invocation_timeout=300, run_max_try=1)
step = ParallelRunStep("hang", config, inputs=[ds.as_named_input("docs")], output=OutputFileDatasetConfig("scores"),
                       arguments=["--marks", sys.argv[3]])
run = Pipeline(ws, [step]).submit(sys.argv[4])
print(run.id, flush=True)
run.wait_for_completion(show_output=False)
"""

HANG = """
import argparse, os, pathlib, signal, subprocess, sys, time
parser = argparse.ArgumentParser(); parser.add_argument("--marks"); args, _ = parser.parse_known_args()
marks = pathlib.Path(args.marks)

def init():
    marks.mkdir(parents=True, exist_ok=True)
    subprocess.Popen([sys.executable, "-c", "import os, pathlib, signal, sys, time\\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
                      "pathlib.Path(sys.argv[1], f'helper-{os.getpid()}.pid').write_text(str(os.getpid()))\\n"
                      "time.sleep(300)", str(marks)])
    (marks / f"worker-{os.getpid()}.pid").write_text(str(os.getpid()))

def run(mini_batch):
    time.sleep(300)
    return mini_batch
"""


def _kill_host_mid_step(code: str, args: list[str], marks: Path, count: int, leftovers: list[int]) -> tuple[str, list[int]]:
    """Start a host process that submits a run, wait until its step processes exist, then ``kill -9`` it."""
    host = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=REPO, env={**os.environ, "AMLITE_QUIET": "1"})
    try:
        assert host.stdout is not None
        run_id = host.stdout.readline().decode().strip()
        assert run_id, host.stderr.read().decode() if host.stderr else "the host printed no run id"
        pids = read_pids(marks, timeout=60, count=count)
        leftovers.extend(pids)
        leftovers.extend(processes_of_run(run_id))
        assert set(pids) <= set(processes_of_run(run_id))
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
    return run_id, pids


def test_killing_the_host_mid_step_leaves_no_step_process(azurite: str, source_dir: Path, experiment_name: str,
                                                           tmp_path: Path, leftovers: list[int]) -> None:
    _write(source_dir, tree=TREE)
    marks = tmp_path / "marks"
    run_id, pids = _kill_host_mid_step(HOST, [azurite, str(source_dir), str(marks), experiment_name], marks, 2,
                                       leftovers)
    assert wait_until(lambda: not processes_of_run(run_id), 5), \
        f"left behind: {processes_of_run(run_id)} (script and grandchild were {pids})"


def test_killing_the_host_mid_step_ends_parallel_run_workers(workspace: Workspace, azurite: str, source_dir: Path,
                                                             experiment_name: str, tmp_path: Path,
                                                             leftovers: list[int]) -> None:
    _write(source_dir, hang=HANG)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        (data / f"f{i}.txt").write_text("x")
    prefix = f"hang-{uuid.uuid4().hex[:8]}"
    workspace.get_default_datastore().upload(str(data), target_path=prefix, show_progress=False)
    marks = tmp_path / "marks"
    run_id, pids = _kill_host_mid_step(PRS_HOST, [azurite, str(source_dir), str(marks), experiment_name, prefix],
                                       marks, 4, leftovers)
    assert wait_until(lambda: not processes_of_run(run_id), 5), \
        f"left behind: {processes_of_run(run_id)} (workers and their helpers were {pids})"


# -- activity redelivery ------------------------------------------------------------
PARTS = """
import pathlib, sys, uuid
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
token = uuid.uuid4().hex[:8]  # a new name per attempt, as a script writing part-<uuid> files would
for i in range(4):
    (out / f"part-{token}-{i}.txt").write_text(f"rows of part {i}\\n")
print("wrote", token)
"""

COUNT = """
import pathlib, sys
parts = sorted(p.name for p in pathlib.Path(sys.argv[1]).iterdir())
pathlib.Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)
pathlib.Path(sys.argv[2], "count.txt").write_text(str(len(parts)))
"""

# Runs one ``run_step`` activity, uploading two of the step's four output files and then dying
# (SIGKILL), as a host lost to scale-in in the middle of its uploads.
DIES_HALF_WAY = """
import os, signal, sys
from pipeline_core.engine import activities
from pipeline_core.engine.services import services_for
from pipeline_core.execution import step_outputs

def upload_half_then_die(container, folder, prefix, etags=None, **options):
    for path in sorted(p for p in folder.rglob("*") if p.is_file())[:2]:
        with open(path, "rb") as handle:
            container.upload_blob(prefix.strip("/") + "/" + path.relative_to(folder).as_posix(), handle,
                                  overwrite=True, **options)
    os.kill(os.getpid(), signal.SIGKILL)

step_outputs.upload_folder = upload_half_then_die
activities.run_step(services_for(sys.argv[1]), sys.argv[2], sys.argv[3])
"""


def test_a_redelivered_step_whose_first_attempt_died_half_way_writes_its_outputs_once(
        workspace: Workspace, azurite: str, source_dir: Path, experiment_name: str, tmp_path: Path) -> None:
    _write(source_dir, parts=PARTS, count=COUNT)
    parts_out, counted = OutputFileDatasetConfig("parts_out"), PipelineData("counted")
    parts = PythonScriptStep("parts.py", name="parts", arguments=[parts_out], source_directory=str(source_dir),
                             allow_reuse=False)
    count = PythonScriptStep("count.py", name="count", arguments=[parts_out.as_input(), counted], outputs=[counted],
                             source_directory=str(source_dir), allow_reuse=False)
    services = services_for(azurite)
    spec = Pipeline(workspace, [parts, count]).spec()
    run_id = create_run(services, spec, experiment_name)
    activities.start_run(services, run_id)
    where = output_location(spec.data["parts_out"], "parts_out", run_id, "parts")
    container = services.container_for(where.datastore)

    first = subprocess.run([sys.executable, "-c", DIES_HALF_WAY, azurite, run_id, "parts"], cwd=REPO,
                           capture_output=True, timeout=60)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()
    row = services.runs.get_step(run_id, "parts")
    assert row["status"] == "Running" and row["attempt"] == 1 and not row.get("outputs")
    assert len(list(container.list_blobs(name_starts_with=where.path + "/"))) == 2  # half-written

    again = activities.run_step(services, run_id, "parts")  # Durable delivers the activity again
    assert again["status"] == "Finished", again
    blobs = list(container.list_blobs(name_starts_with=where.path + "/", include=["metadata"]))
    names = sorted(b.name.rsplit("/", 1)[-1] for b in blobs)
    tokens = {name.split("-")[1] for name in names}
    assert len(names) == 4 and len(tokens) == 1, names  # one attempt's files, each once
    assert {b.metadata[ATTEMPT_KEY] for b in blobs} == {"2"}
    for name in names:
        index = name.rsplit("-", 1)[1].split(".")[0]
        assert container.download_blob(f"{where.path}/{name}").readall().decode() == f"rows of part {index}\n"
    row = services.runs.get_step(run_id, "parts")
    assert row["attempt"] == 2 and row["outputs"]["parts_out"]["count"] == 4

    assert activities.run_step(services, run_id, "count")["status"] == "Finished"
    loc = services.runs.get_step(run_id, "count")["outputs"]["counted"]
    counted_blob = services.container_for(loc["datastore"]).download_blob(f"{loc['path']}/count.txt")
    assert counted_blob.readall().decode() == "4"  # the consumer saw four parts, not six

    run = PipelineRun(Experiment(workspace, experiment_name), run_id)
    step_run = run.find_step_run("parts")[0]
    assert step_run.get_details()["attempt"] == 2
    assert "attempt 2: the previous attempt of this step did not finish" in step_run.get_job_log()
    assert step_entity(row, run_id, "http://x")["Attempt"] == 2
    shown = subprocess.run([sys.executable, "-m", "amlite_cli", "show", run_id], cwd=tmp_path,
                           capture_output=True, timeout=60, env={**os.environ, "AMLITE_STORAGE": azurite,
                                                                 "COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr.decode()
    line = next(line for line in shown.stdout.decode().splitlines() if " parts " in line)
    assert "Finished" in line and " 2 " in line, line


SLOW_PARTS = """
import os, pathlib, sys, time, uuid
out, marks = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
marks.mkdir(parents=True, exist_ok=True)
token = uuid.uuid4().hex[:8]
(marks / f"{token}.pid").write_text(str(os.getpid()))
time.sleep(3)
for i in range(3):
    (out / f"part-{token}-{i}.txt").write_text(token)
print("attempt wrote", token)
"""


def test_an_overlapping_delivery_supersedes_the_older_attempt(workspace: Workspace, azurite: str, source_dir: Path,
                                                              experiment_name: str, tmp_path: Path,
                                                              leftovers: list[int]) -> None:
    _write(source_dir, slow_parts=SLOW_PARTS)
    marks = tmp_path / "marks"
    out = OutputFileDatasetConfig("out")
    step = PythonScriptStep("slow_parts.py", name="parts", arguments=[out, str(marks)],
                            source_directory=str(source_dir), allow_reuse=False)
    services = services_for(azurite)
    spec = Pipeline(workspace, [step]).spec()
    run_id = create_run(services, spec, experiment_name)
    activities.start_run(services, run_id)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(first=activities.run_step(services, run_id, "parts")),
                             daemon=True)
    first.start()
    first_pid = read_pids(marks, count=1)[0]
    leftovers.append(first_pid)
    # The same activity again while the first delivery still runs (a lease lost to a long storage outage).
    second = threading.Thread(target=lambda: results.update(second=activities.run_step(services, run_id, "parts")),
                              daemon=True)
    second.start()
    assert wait_until(lambda: not alive(first_pid), 5)  # the older attempt stopped its script
    first.join(60)
    second.join(60)
    assert results["second"]["status"] == "Finished" and results["first"] == results["second"]
    row = services.runs.get_step(run_id, "parts")
    assert row["attempt"] == 2 and row["outputs"]["out"]["count"] == 3
    second_token = next(p.stem for p in marks.glob("*.pid") if int(p.read_text()) != first_pid)
    where = output_location(spec.data["out"], "out", run_id, "parts")
    names = sorted(b.name for b in services.container_for(where.datastore).list_blobs(name_starts_with=where.path))
    assert names == [f"{where.path}/part-{second_token}-{i}.txt" for i in range(3)]
    log = services.account.container(LOGS_CONTAINER).download_blob(f"{run_id}/parts/std_log.txt").readall()
    assert f"attempt wrote {second_token}".encode() in log and b"stopping this one" not in log


# -- storage outage -----------------------------------------------------------------
THROUGH = """
import pathlib, sys, time
marks, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
marks.mkdir(parents=True, exist_ok=True)
(marks / "started").write_text("")
for i in range(24):
    print(f"tick {i}", flush=True)
    time.sleep(0.5)
out.mkdir(parents=True, exist_ok=True)
(out / "result.txt").write_text("computed through the outage")
"""


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_running_step_survives_a_30_s_storage_outage(source_dir: Path, experiment_name: str,
                                                       tmp_path: Path) -> None:
    ports = AzuritePorts(_free_port(), _free_port(), _free_port())
    location = tmp_path / "azurite"
    storage = ensure_azurite(ports, location=location)
    restarted = None
    try:
        ws = Workspace(storage=storage.connection_string)
        services = services_for(ws.storage)
        _write(source_dir, through=THROUGH)
        marks = tmp_path / "marks"
        out = PipelineData("out")
        step = PythonScriptStep("through.py", name="through", arguments=[str(marks), out], outputs=[out],
                                source_directory=str(source_dir), allow_reuse=False)
        run_id = create_run(services, Pipeline(ws, [step]).spec(), experiment_name)
        activities.start_run(services, run_id)
        result: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: result.update(activities.run_step(services, run_id, "through")),
                                  daemon=True)
        worker.start()
        assert wait_until(lambda: (marks / "started").exists(), 30)
        # Stopped with SIGTERM, so it saves what it holds (an outage loses no data): it stops answering at
        # once, then may linger up to 10 s for idle connections before it exits.
        assert storage.process is not None
        storage.process.terminate()
        assert wait_until(lambda: not _answers(ports.blob), 5)
        down = time.monotonic()
        try:
            storage.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            storage.process.kill()
            storage.process.wait(timeout=10)
        time.sleep(max(0.0, down + 30 - time.monotonic()))
        assert worker.is_alive()  # the script ended during the outage; its results wait for storage
        restarted = ensure_azurite(ports, location=location)
        worker.join(timeout=150)
        assert not worker.is_alive()
        assert time.monotonic() - down >= 30
        assert result["status"] == "Finished", result
        row = services.runs.get_step(run_id, "through")
        assert row["status"] == "Finished" and row["outputs"]["out"]["count"] == 1
        container = services.container_for(row["outputs"]["out"]["datastore"])
        text = container.download_blob(f"{row['outputs']['out']['path']}/result.txt").readall().decode()
        assert text == "computed through the outage"
        logged = ws.account.container(LOGS_CONTAINER).download_blob(f"{run_id}/through/std_log.txt").readall()
        ticks = [line for line in logged.decode().splitlines() if line.startswith("tick ")]
        assert ticks == [f"tick {i}" for i in range(24)]  # every line once: none lost, none repeated
    finally:
        for handle in (storage, restarted):
            if handle is not None and handle.process is not None and handle.process.poll() is None:
                handle.process.kill()
                handle.process.wait(timeout=10)


# -- the supervisor without /proc (macOS, for local runs) -----------------------------
PORTABLE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("supervisor", sys.argv.pop(1))
supervisor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(supervisor)
supervisor.USE_PROC = False  # as where there is no /proc: the command gets a process group of its own
supervisor.main(sys.argv)
"""


def test_without_proc_the_supervisor_still_ends_the_commands_group(tmp_path: Path, leftovers: list[int]) -> None:
    from pipeline_core.execution.process import SUPERVISOR

    marks = tmp_path / "marks"
    started = time.monotonic()
    supervised = subprocess.run([sys.executable, "-c", PORTABLE, SUPERVISOR, str(os.getpid()), "1", "--",
                                 sys.executable, "-c", TREE, str(marks), "0.3", "ignore"],
                                start_new_session=True, timeout=30)
    pids = read_pids(marks, count=2, timeout=1)
    leftovers.extend(pids)
    assert supervised.returncode == 0
    assert not [pid for pid in pids if alive(pid)]  # the grandchild ignored SIGTERM: SIGKILL after the grace
    assert time.monotonic() - started < 10


# -- what a step's start costs ---------------------------------------------------------
def test_the_supervisor_starts_on_c_modules_only(tmp_path: Path) -> None:
    """Every step pays the supervisor's start: it imports no Python-level signal/ctypes/enum machinery."""
    from pipeline_core.execution.process import SUPERVISOR

    done = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", SUPERVISOR, str(os.getpid()), "1", "--",
                           "true"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"enum", "ctypes", "signal", "subprocess", "threading"}, sorted(imported)


def test_the_host_notices_a_step_exit_at_once(workspace: Workspace, tmp_path: Path) -> None:
    """A step that ends is seen ending within a few ms (no 50 ms polling step between a chain's steps)."""
    log = StepLog(workspace.account.container(LOGS_CONTAINER), f"exit-{uuid.uuid4().hex[:8]}", "s",
                  tmp_path / "std_log.txt")
    stamp = tmp_path / "ended"
    script = f"import time; open({str(stamp)!r}, 'w').write(repr(time.time()))"
    late = []
    for _ in range(5):
        result = run_process([sys.executable, "-S", "-c", script], tmp_path, dict(os.environ), log)
        late.append(time.time() - float(stamp.read_text()))
        assert result.exit_code == 0
    log.close()
    assert sorted(late)[2] < 0.04, late  # median: the supervisor's exit and the wake, not a poll interval


# -- the fork server (supervisors forked from one process per host) ---------------------
def test_a_served_step_and_its_supervisor_hold_none_of_the_hosts_variables(workspace: Workspace, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor is forked from the fork server, whose environment is empty: neither the step nor its
    supervisor (``/proc/<pid>/environ``, readable by the step) carries a host secret."""
    from pipeline_core.execution import process

    monkeypatch.setenv("AMLITE_TEST_HOST_SECRET", "hunter2")
    log = StepLog(workspace.account.container(LOGS_CONTAINER), f"env-{uuid.uuid4().hex[:8]}", "s",
                  tmp_path / "std_log.txt")
    script = ("import os; raw = open(f'/proc/{os.getppid()}/environ', 'rb').read(); "
              "print('secret' if b'hunter2' in raw or os.environ.get('AMLITE_TEST_HOST_SECRET') else 'clean', "
              "os.environ.get('STEP_ONLY'))")
    result = run_process([sys.executable, "-S", "-c", script], tmp_path, {"STEP_ONLY": "yes"}, log)
    log.close()
    assert result.exit_code == 0
    assert (tmp_path / "std_log.txt").read_text().strip().endswith("clean yes")
    assert not process._fork_server.broken and process._fork_server._sock is not None  # it was served


def test_a_killed_fork_server_takes_its_running_steps_and_the_next_step_gets_a_new_one(
        workspace: Workspace, tmp_path: Path, leftovers: list[int]) -> None:
    from pipeline_core.execution import process

    log = StepLog(workspace.account.container(LOGS_CONTAINER), f"srv-{uuid.uuid4().hex[:8]}", "s",
                  tmp_path / "std_log.txt")
    run_process([sys.executable, "-S", "-c", "pass"], tmp_path, {}, log)  # the server is up
    server = process._fork_server.server_pid
    marks = tmp_path / "marks"
    outcome: list[Any] = []
    runner = threading.Thread(target=lambda: outcome.append(
        run_process([sys.executable, "-c", TREE, str(marks), "60"], tmp_path, dict(os.environ), log, grace=0.5)))
    runner.start()
    pids = read_pids(marks, count=2, timeout=20)
    leftovers.extend(pids)
    os.kill(server, signal.SIGKILL)
    runner.join(30)
    assert outcome and outcome[0].exit_code != 0
    assert wait_until(lambda: not [pid for pid in pids if alive(pid)], 10)  # the step's tree went with it
    again = run_process([sys.executable, "-S", "-c", "print('after')"], tmp_path, {}, log)
    log.close()
    assert again.exit_code == 0 and process._fork_server.server_pid != server


def test_a_host_holding_over_a_thousand_descriptors_still_sees_its_steps_end(
        workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy host (a wide fan-out, many downloads) holds more than 1,024 descriptors. The wait on a step's
    exit (a pidfd) must not use select(), which refuses a descriptor numbered past FD_SETSIZE: the step's
    activity failed with "filedescriptor out of range in select()" instead of recording the step."""
    import resource

    from pipeline_core.execution import process

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2048
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this machine allows {hard} open files per process; the test needs {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    monkeypatch.setattr(process._fork_server, "broken", True)  # a supervisor of its own: the host waits on a pidfd
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        log = StepLog(workspace.account.container(LOGS_CONTAINER), f"fds-{uuid.uuid4().hex[:8]}", "s",
                      tmp_path / "std_log.txt")
        result = run_process([sys.executable, "-S", "-c", "print('ended')"], tmp_path, {}, log)
        log.close()
    finally:
        for fd in held:
            os.close(fd)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result.exit_code == 0
    assert (tmp_path / "std_log.txt").read_text().strip().endswith("ended")
