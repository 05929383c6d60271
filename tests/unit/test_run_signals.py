"""In-process run signals: a follower of a run this process writes wakes on the write, not on a poll."""

from __future__ import annotations

import threading
import time

from pipeline_core.storage.run_signals import RunSignals


def test_a_run_nobody_here_wrote_has_no_version() -> None:
    signals = RunSignals()
    assert signals.version("run-x") is None
    signals.changed("run-x")
    assert signals.version("run-x") == 1


def test_wait_returns_as_soon_as_the_run_changes() -> None:
    signals = RunSignals()
    signals.changed("run-a")
    seen = signals.version("run-a")
    threading.Timer(0.05, signals.changed, args=("run-a",)).start()
    started = time.monotonic()
    assert signals.wait("run-a", seen, timeout=10) is True
    assert time.monotonic() - started < 5  # woken by the write, not by the 10 s timeout


def test_a_change_before_the_wait_is_not_missed() -> None:
    signals = RunSignals()
    signals.changed("run-b")
    seen = signals.version("run-b")
    signals.changed("run-b")  # written between the follower's read and its wait
    assert signals.wait("run-b", seen, timeout=0) is True


def test_another_runs_change_does_not_end_the_wait() -> None:
    signals = RunSignals()
    signals.changed("mine")
    seen = signals.version("mine")
    threading.Timer(0.02, signals.changed, args=("other",)).start()
    assert signals.wait("mine", seen, timeout=0.2) is False


def test_only_the_newest_runs_are_remembered() -> None:
    signals = RunSignals(keep=2)
    for run in ("r1", "r2", "r3"):
        signals.changed(run)
    assert signals.version("r1") is None  # forgotten: its follower polls as usual
    assert signals.version("r3") == 1


def test_the_end_of_a_run_is_remembered_for_its_follower() -> None:
    """A follower reads the write that ends a run at once instead of waiting out its read interval."""
    signals = RunSignals()
    signals.changed("r1")
    assert not signals.ended("r1")
    signals.changed("r1", ended=True)
    assert signals.ended("r1") and not signals.ended("r2")
