"""``StepWaits``: when pipeline_run's wait needs a refill timer (its replays pin the same in tests/functions)."""

from __future__ import annotations

from pipeline_core.engine.step_waits import StepWaits


def test_the_first_wait_has_only_new_tasks_and_a_chain_never_needs_a_timer() -> None:
    waits = StepWaits()
    waits.start_round()
    waits.add("a", ["a"], ends_on_cancel=True)
    assert not waits.needs_timer(cancel_waits=True)  # a and the cancel event are both new
    assert waits.ended("a") == ["a"]
    waits.start_round()
    waits.add("b", ["b"], ends_on_cancel=True)
    assert not waits.needs_timer(cancel_waits=True)  # the old cancel event beside run_step activities only


def test_a_new_step_beside_a_running_one_or_a_slow_to_cancel_one_needs_a_timer() -> None:
    waits = StepWaits()
    waits.start_round()
    waits.add("a", ["a"], ends_on_cancel=True)
    waits.add("b", ["b"], ends_on_cancel=True)
    assert not waits.needs_timer(cancel_waits=True)
    waits.ended("b")
    waits.start_round()
    waits.add("c", ["c"], ends_on_cancel=True)
    assert waits.needs_timer(cancel_waits=True)  # c joined the running a

    retried = StepWaits()
    retried.start_round()
    retried.add("a", ["a"], ends_on_cancel=True)
    retried.needs_timer(cancel_waits=True)
    retried.ended("a")
    retried.start_round()
    retried.add("r", ["r"], ends_on_cancel=False)  # may sit in a backoff: the old cancel event counts
    assert retried.needs_timer(cancel_waits=True)
    assert not retried.needs_timer(cancel_waits=False)  # a cancel already asked: nothing else is older
