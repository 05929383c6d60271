"""Following a run from a terminal: step status changes and streamed step logs (rich).

Shared by ``PipelineRun.wait_for_completion`` and the CLI so both show the
same thing; it only reads Table and Blob storage, so it works from any
machine that can reach the workspace's account.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from rich.console import Console
from rich.text import Text

from pipeline_core.execution.logs import LOGS_CONTAINER, log_blob_name
from pipeline_core.storage.run_store import TERMINAL

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services

STATUS_STYLE = {"Finished": "green", "Failed": "red", "Canceled": "yellow", "Running": "cyan",
                "CancelRequested": "yellow", "Queued": "blue", "NotStarted": "dim"}

console = Console(highlight=False, soft_wrap=True)


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _read_new(services: Services, run_id: str, step: str, offset: int) -> bytes:
    blob = services.account.container(LOGS_CONTAINER).get_blob_client(log_blob_name(run_id, step))
    try:
        return blob.download_blob(offset=offset).readall()
    except ResourceNotFoundError:
        return b""
    except HttpResponseError as exc:  # 416: nothing past offset yet
        if exc.status_code == 416:
            return b""
        raise


def follow_run(services: Services, run_id: str, show_output: bool = True, timeout_seconds: float = 1e12,
               poll: float = 0.1) -> str:
    deadline = time.monotonic() + timeout_seconds
    seen: dict[str, str] = {}
    offsets: dict[str, int] = {}
    drained: set[str] = set()
    run_status = ""
    if show_output:
        console.print(f"PipelineRunId: [bold]{run_id}[/]")
    while True:
        state = services.runs.get_state(run_id)
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
                data = _read_new(services, run_id, name, offsets.get(name, 0))
                if status in TERMINAL:
                    drained.add(name)
                if data:
                    offsets[name] = offsets.get(name, 0) + len(data)
                    for line in data.decode("utf-8", errors="replace").splitlines():
                        console.print(Text.assemble((f"    {name} | ", "dim"), line))
        if run_status in TERMINAL:
            if show_output:
                console.print(f"PipelineRun {run_id} status: {styled(run_status)}")
            return run_status
        if time.monotonic() > deadline:
            return run_status
        time.sleep(poll)
