"""A real dev host process (``python -m amlite_devhost``) and a pipeline with observable steps, for fault tests.

The host serves the repo's Functions app on a free loopback port against the
test's Azurite, under a task hub of its own, and sweeps for dead hosts every
second. Steps count their own runs in files (``<name>.txt``, one line per
start) and write their pid (``<name>.pid``), so a test sees what ran again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from pipeline_core import Pipeline, PipelineData, PublishedPipeline, PythonScriptStep, Workspace
from pipeline_core.engine.services import services_for

REPO_ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("Finished", "Failed", "Canceled")
_STARTED = re.compile(r"Host started \([^)]*\): (http://\S+)")


class HostProcess:
    """One ``python -m amlite_devhost`` child; its output goes to a file (``log``)."""

    def __init__(self, env: dict[str, str], log: Path, grace: float = 20.0) -> None:
        self.env = env
        self.log = log
        self.grace = grace
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self, timeout: float = 40.0) -> HostProcess:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "amlite_local", str(REPO_ROOT), "--port", "0", "--no-timers",
                 "--no-blob-triggers", "--resume-interval", "1", "--shutdown-grace", str(self.grace)],
                cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _STARTED.search(self.log.read_bytes()[offset:].decode(errors="replace"))
            if found:
                self.base_url = found.group(1)
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"the host exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"the host did not start within {timeout} s:\n{self.output()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, reap: bool = True) -> None:
        """``kill -9``; with ``reap=False`` the dead host stays a zombie until :meth:`reap`."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        if reap:
            self.process.wait(10)
        else:  # wait until it is dead without reaping it (waitid with WNOWAIT leaves the zombie)
            os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOWAIT)

    def reap(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.wait(10)

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Clean-up: kill whatever is left (never raises)."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.kill()
                self.process.wait(10)
            except Exception:  # noqa: BLE001 - clean-up
                pass


def host_env(azurite: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"AMLITE_STORAGE": azurite, "AzureWebJobsStorage": azurite, "AMLITE_AUTH": "none",
                "AMLITE_TASK_HUB": f"fault{uuid.uuid4().hex[:10]}", "AMLITE_QUIET": "1",
                "PYTHONUNBUFFERED": "1"})
    return env


def step_script(counters: Path, name: str, body: str = "", output: str | None = None) -> str:
    """A step that records its start (``<name>.txt``, ``<name>.pid``), runs ``body`` (with ``runs``, the
    number of starts so far, in scope) and writes one file to its output argument."""
    lines = [
        "import os, sys, time",
        f"counters = {str(counters)!r}",
        f"with open(os.path.join(counters, {name + '.txt'!r}), 'a') as f: f.write('run\\n')",
        f"with open(os.path.join(counters, {name + '.pid'!r}), 'w') as f: f.write(str(os.getpid()))",
        f"runs = len(open(os.path.join(counters, {name + '.txt'!r})).read().splitlines())",
        body,
    ]
    if output:
        lines += ["out = sys.argv[sys.argv.index('--out') + 1]", "os.makedirs(out, exist_ok=True)",
                  f"open(os.path.join(out, 'result.txt'), 'w').write({name!r} + ' done')"]
    return "\n".join(lines) + "\n"


def runs_of(counters: Path, name: str) -> int:
    path = counters / f"{name}.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def pid_of(counters: Path, name: str) -> int | None:
    path = counters / f"{name}.pid"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def kill_group(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def publish_chain(ws: Workspace, source: Path, scripts: dict[str, str]) -> PublishedPipeline:
    """Publish steps run one after the other (each reads the previous one's output)."""
    source.mkdir(parents=True, exist_ok=True)
    steps: list[PythonScriptStep] = []
    previous: PipelineData | None = None
    for name, text in scripts.items():
        (source / f"{name}.py").write_text(text)
        out = PipelineData(f"{name}_out")
        arguments: list[Any] = ["--out", out]
        inputs = []
        if previous is not None:
            arguments += ["--in", previous]
            inputs = [previous]
        steps.append(PythonScriptStep(f"{name}.py", name=name, source_directory=str(source), arguments=arguments,
                                      inputs=inputs, outputs=[out], allow_reuse=False))
        previous = out
    return Pipeline(ws, steps).publish(name=f"fault-{uuid.uuid4().hex[:8]}")


def submit(host: HostProcess, published: PublishedPipeline, key: str | None = None,
           timeout: float = 20.0) -> requests.Response:
    url = host.base_url + "/api/" + published.endpoint.split("/api/", 1)[1]
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(url, json={"ExperimentName": "faults"}, headers=headers, timeout=timeout)


def until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def run_status(ws: Workspace, run_id: str) -> str:
    return str(services_for(ws.storage).runs.get_run(run_id).get("status"))


def step_row(ws: Workspace, run_id: str, step: str) -> dict[str, Any]:
    return services_for(ws.storage).runs.get_step(run_id, step)
