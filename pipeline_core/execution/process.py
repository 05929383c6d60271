"""Run one script as its own process, streaming its output to a StepLog, and stop it on cancel.

The child gets its own process group so a cancel stops everything it started
(a script that spawns workers leaves none behind).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline_core.execution.logs import StepLog


@dataclass
class ProcessResult:
    exit_code: int
    canceled: bool
    seconds: float


def _pump(stream: IO[bytes], log: StepLog, stderr: bool) -> None:
    for line in iter(stream.readline, b""):
        log.write(line, stderr=stderr)
    stream.close()


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)


def run_process(argv: list[str], cwd: Path, env: dict[str, str], log: StepLog,
                should_cancel: Callable[[], bool] | None = None, poll_seconds: float = 0.5,
                timeout: float | None = None) -> ProcessResult:
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    assert process.stdout is not None and process.stderr is not None
    pumps = [threading.Thread(target=_pump, args=(process.stdout, log, False), daemon=True),
             threading.Thread(target=_pump, args=(process.stderr, log, True), daemon=True)]
    for pump in pumps:
        pump.start()
    canceled = False
    try:
        while True:
            try:
                process.wait(timeout=poll_seconds)
                break
            except subprocess.TimeoutExpired:
                pass
            if should_cancel is not None and should_cancel():
                canceled = True
                log.note("[amlite] cancel requested: stopping the step's processes")
                stop_process_group(process)
                break
            if timeout is not None and time.monotonic() - started > timeout:
                log.note(f"[amlite] the step exceeded its timeout of {timeout:.0f} s: stopping it")
                stop_process_group(process)
                break
    finally:
        if process.poll() is None:  # we are leaving on an error: never leave the script running
            stop_process_group(process)
        for pump in pumps:
            pump.join(timeout=5)
    return ProcessResult(process.returncode if process.returncode is not None else -1, canceled,
                         time.monotonic() - started)
