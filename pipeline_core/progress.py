"""Following a run from a terminal: step status changes and streamed step logs (rich).

Shared by ``PipelineRun.wait_for_completion`` and the CLI so both show the
same thing. The display is written once against a
:class:`~pipeline_core.run_source.RunSource`: Table/Blob storage for a local
workspace, the REST API (run, steps, log offsets) for a remote one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from pipeline_core.storage.run_store import TERMINAL

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services
    from pipeline_core.run_source import RunSource

STATUS_STYLE = {"Finished": "green", "Failed": "red", "Canceled": "yellow", "Running": "cyan",
                "CancelRequested": "yellow", "Queued": "blue", "NotStarted": "dim"}

console = Console(highlight=False, soft_wrap=True)


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def follow_run(services: Services, run_id: str, show_output: bool = True, timeout_seconds: float = 1e12,
               poll: float = 0.1) -> str:
    """:func:`follow` for a run read straight from storage (kept for callers that hold ``Services``)."""
    from pipeline_core.run_source import StoreRunSource

    return follow(StoreRunSource(services, run_id), show_output, timeout_seconds, poll)


def follow(source: RunSource, show_output: bool = True, timeout_seconds: float = 1e12,
           poll: float | None = None) -> str:
    """Poll until the run ends or ``timeout_seconds`` pass; return its last status.

    With ``show_output``: each step's status changes, then its log lines as they
    grow (read from the last offset, so nothing prints twice).
    """
    run_id = source.run_id
    interval = source.poll_seconds if poll is None else poll
    deadline = time.monotonic() + timeout_seconds
    seen: dict[str, str] = {}
    offsets: dict[str, int] = {}
    partial: dict[str, str] = {}
    drained: set[str] = set()
    run_status = ""
    if show_output:
        console.print(f"PipelineRunId: [bold]{run_id}[/]")
    while True:
        state = source.get_state()
        run_status = str(state.run.get("status"))
        for name, row in state.steps.items():
            status = str(row.get("status"))
            if show_output and seen.get(name) != status:
                extra = ""
                if row.get("is_reused") and status == "Finished":
                    extra = f" (reused from run {row.get('reused_run_id')})"
                console.print(f"  step [bold]{name}[/]: {styled(status)}{extra}")
                if status == "Failed" and isinstance(row.get("error"), dict):
                    console.print(Text("    " + str(row["error"].get("message", "")), style="red"))
            seen[name] = status
            if show_output and name not in drained and status in ("Running", "CancelRequested", *TERMINAL) \
                    and not row.get("is_reused") and row.get("start_time"):
                data, offsets[name] = source.read_log(name, offset=offsets.get(name, 0))
                text = partial.pop(name, "") + data.decode("utf-8", errors="replace")
                if status in TERMINAL:
                    drained.add(name)
                elif text and not text.endswith("\n"):  # hold a half-written line until its end arrives
                    text, _, partial[name] = text.rpartition("\n")
                for line in text.splitlines():
                    console.print(Text.assemble((f"    {name} | ", "dim"), line))
        if run_status in TERMINAL:
            if show_output:
                console.print(f"PipelineRun {run_id} status: {styled(run_status)}")
            return run_status
        if time.monotonic() > deadline:
            return run_status
        time.sleep(interval)
