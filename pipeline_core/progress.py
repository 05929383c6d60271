"""Following a run from a terminal: step status changes, streamed step logs, ParallelRunStep progress bars (rich).

Shared by ``PipelineRun.wait_for_completion`` and the CLI so both show the
same thing. The display is written once against a
:class:`~pipeline_core.backend.RunSource`: Table/Blob storage for a local
workspace, the REST API (run, steps, log offsets) for a remote one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pipeline_core.status import RunStatus
from pipeline_core.storage.run_store import TERMINAL

if TYPE_CHECKING:  # rich loads when something is printed: a silent wait (a script, a bench) never pays ~60 ms
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from pipeline_core.backend import RunSource
    from pipeline_core.engine.services import Services

STATUS_STYLE: dict[str, str] = {RunStatus.FINISHED: "green", RunStatus.FAILED: "red", RunStatus.CANCELED: "yellow",
                RunStatus.RUNNING: "cyan", RunStatus.CANCEL_REQUESTED: "yellow", RunStatus.QUEUED: "blue",
                RunStatus.NOT_STARTED: "dim"}

def terminal() -> Console:
    """The one console every follower prints to: the module's ``console``, made on first use (a caller may
    set its own, e.g. to capture the output)."""
    made: Console | None = globals().get("console")
    if made is None:
        from rich.console import Console

        made = globals()["console"] = Console(highlight=False, soft_wrap=True)
    return made


def __getattr__(name: str) -> Any:
    if name == "console":  # PEP 562: ``progress.console`` exists from its first read, as it always did
        return terminal()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


class ProgressBars:
    """One bar per ParallelRunStep that reports ``progress``: items processed of the total, and failures.

    Started with the first such step, so other pipelines print exactly as before. The unit is items
    (files or rows) when the total is known, else mini-batches (a tabular input whose rows are not
    counted until they are read). Log lines printed meanwhile go above the bars.
    """

    def __init__(self, console: Console | None = None):
        self.console = console  # None: the terminal's, when the first bar is shown
        self.bars: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def show(self, step: str, status: str, progress: Any) -> None:
        if not isinstance(progress, dict):
            return
        total, done, unit = progress.get("total"), progress.get("processed"), "items"
        if total is None:
            total, done, unit = progress.get("batches"), progress.get("finished_batches"), "mini-batches"
        if total is None:
            return
        if self.bars is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bars = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[unit]}; failed: {task.fields[failed]}"),
                                 TimeElapsedColumn(), console=self.console or terminal())
            self.bars.start()
        failed = f"{progress.get('failed') or 0} items, {progress.get('failed_batches') or 0} mini-batches"
        if step not in self.tasks:
            self.tasks[step] = self.bars.add_task(step, total=int(total), unit=unit, failed=failed)
        task = self.tasks[step]
        self.bars.update(task, total=int(total), completed=int(done or 0), unit=unit, failed=failed)
        if status in TERMINAL:
            self.bars.stop_task(task)

    def stop(self) -> None:
        if self.bars is not None:
            self.bars.stop()


def follow_run(services: Services, run_id: str, show_output: bool = True, timeout_seconds: float = 1e12,
               poll: float = 0.1) -> str:
    """:func:`follow` for a run read straight from storage (kept for callers that hold ``Services``)."""
    from pipeline_core.backend.local import StoreRunSource  # the local backend loads the engine: on use

    return follow(StoreRunSource(services, run_id), show_output, timeout_seconds, poll)


def follow(source: RunSource, show_output: bool = True, timeout_seconds: float = 1e12,
           poll: float | None = None) -> str:
    """Poll until the run ends or ``timeout_seconds`` pass; return its last status.

    With ``show_output``: each step's status changes, then its log lines as they
    grow (read from the last offset, so nothing prints twice), and a progress bar
    per ParallelRunStep.
    """
    interval = source.poll_seconds if poll is None else poll
    deadline = time.monotonic() + timeout_seconds
    bars = ProgressBars()
    if show_output:
        terminal().print(f"PipelineRunId: [bold]{source.run_id}[/]")
    try:
        return _follow(source, show_output, deadline, interval, bars)
    finally:
        bars.stop()


def _follow(source: RunSource, show_output: bool, deadline: float, interval: float, bars: ProgressBars) -> str:
    run_id = source.run_id
    seen: dict[str, str] = {}
    offsets: dict[str, int] = {}
    partial: dict[str, str] = {}
    drained: set[str] = set()
    while True:
        if show_output:
            state = source.get_state()
            run, steps = state.run, state.steps
        else:  # silent: only the run's status matters, one row (not the 101 rows of a 100-step run per wake)
            run, steps = source.get_run(), {}
        run_status = str(run.get("status"))
        for name, row in steps.items():
            status = str(row.get("status"))
            if show_output and seen.get(name) != status:
                extra = ""
                if row.get("is_reused") and status == RunStatus.FINISHED:
                    extra = f" (reused from run {row.get('reused_run_id')})"
                terminal().print(f"  step [bold]{name}[/]: {styled(status)}{extra}")
                if status == RunStatus.FAILED and isinstance(row.get("error"), dict):
                    from rich.text import Text

                    terminal().print(Text("    " + str(row["error"].get("message", "")), style="red"))
            seen[name] = status
            if show_output and name not in drained and status in (RunStatus.RUNNING, RunStatus.CANCEL_REQUESTED, *TERMINAL) \
                    and not row.get("is_reused") and row.get("start_time"):
                data, offsets[name] = source.read_log(name, offset=offsets.get(name, 0))
                text = partial.pop(name, "") + data.decode("utf-8", errors="replace")
                if status in TERMINAL:
                    drained.add(name)
                elif text and not text.endswith("\n"):  # hold a half-written line until its end arrives
                    text, _, partial[name] = text.rpartition("\n")
                for line in text.splitlines():
                    from rich.text import Text

                    terminal().print(Text.assemble((f"    {name} | ", "dim"), line))
            if show_output:
                bars.show(name, status, row.get("progress"))
        if run_status in TERMINAL:
            if show_output:
                terminal().print(f"PipelineRun {run_id} status: {styled(run_status)}")
            return run_status
        if time.monotonic() > deadline:
            return run_status
        wait = source.wait_for_change if show_output else source.wait_for_end
        wait(interval, max(0.0, deadline - time.monotonic()))
