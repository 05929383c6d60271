"""Finding a run's step processes in /proc: every process a step starts inherits ``AMLITE_RUN_ID``."""

from __future__ import annotations

import os
import time


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()[0]


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie has ended (only its parent has not collected it)."""
    return _state(pid) not in (None, "Z", "X")


def processes_of_run(run_id: str) -> list[int]:
    """Live processes whose environment carries ``AMLITE_RUN_ID=<run_id>``: the run's step processes."""
    marker = f"AMLITE_RUN_ID={run_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                variables = handle.read().split(b"\0")
        except OSError:
            continue
        if marker in variables and alive(int(entry)):
            found.append(int(entry))
    return found


def wait_until(condition, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def read_pids(folder, timeout: float = 30.0, count: int = 1) -> list[int]:  # type: ignore[no-untyped-def]
    """Pids a step script wrote as ``<folder>/<name>.pid`` files, once ``count`` of them exist."""
    assert wait_until(lambda: len([p for p in folder.glob("*.pid") if p.read_text().strip()]) >= count, timeout), \
        f"the step never wrote {count} pid file(s) to {folder}"
    return [int(p.read_text()) for p in folder.glob("*.pid")]


def kill_all(pids: list[int]) -> None:
    """Test clean-up: whatever a failed assertion left running."""
    import signal

    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
