"""DataTransferStep's log sink: progress of a long transfer at most every 10 s, and where it notices a cancel."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipeline_core.engine import data_transfer_step
from pipeline_core.engine.data_transfer_step import _progress
from pipeline_core.errors import StepStopped


class _Ctx:
    """The two things the sink uses of a StepContext: the log and the stop check."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stop: str | None = None
        self.log = self

    def note(self, line: str) -> None:
        self.lines.append(line)

    def stop_reason(self) -> str | None:
        return self.stop


def test_progress_lines_are_throttled_but_the_last_and_the_summary_always_show(monkeypatch: Any) -> None:
    ctx = _Ctx()
    say = _progress(ctx, time.monotonic() + 3600)  # type: ignore[arg-type]
    for done in range(0, 100, 10):
        say(f"copied {done} of 100 bytes ({done}%)")
    say("copied 100 of 100 bytes (100%)")
    say("copied 3 blob(s) server-side from a/x to b/y")
    assert ctx.lines == ["[transfer] copied 0 of 100 bytes (0%)", "[transfer] copied 100 of 100 bytes (100%)",
                         "[transfer] copied 3 blob(s) server-side from a/x to b/y"]
    monkeypatch.setattr(data_transfer_step, "PROGRESS_SECONDS", 0.0)
    say = _progress(ctx, time.monotonic() + 3600)  # type: ignore[arg-type]
    say("exported 10000 rows")
    say("exported 20000 rows")
    assert ctx.lines[-2:] == ["[transfer] exported 10000 rows", "[transfer] exported 20000 rows"]


def test_the_sink_stops_the_transfer_on_cancel_and_past_the_time_limit() -> None:
    ctx = _Ctx()
    say = _progress(ctx, time.monotonic() + 3600)  # type: ignore[arg-type]
    ctx.stop = "canceled"
    time.sleep(1.05)  # the stop check reads storage at most once a second
    with pytest.raises(StepStopped) as stopped:
        say("loaded 10000 rows")
    assert stopped.value.reason == "canceled"
    say = _progress(_Ctx(), time.monotonic() - 1)  # type: ignore[arg-type]
    with pytest.raises(StepStopped) as stopped:
        say("loaded 10000 rows")
    assert stopped.value.reason == "timeout"
