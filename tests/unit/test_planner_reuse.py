"""The pure planner (AML's continue_on_step_failure rules) and reuse-key parts."""

from __future__ import annotations

from pipeline_core.engine.planner import plan
from pipeline_core.engine.reuse import changed_parts, reuse_key

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def test_diamond_schedules_branches_together() -> None:
    assert plan(DIAMOND, {}).ready == ["a"]
    assert plan(DIAMOND, {"a": "Finished"}).ready == ["b", "c"]
    assert plan(DIAMOND, {"a": "Finished", "b": "Finished"}, {"c"}).ready == []
    done = plan(DIAMOND, {n: "Finished" for n in DIAMOND})
    assert done.done and done.outcome == "Finished"


def test_failure_stops_everything_by_default() -> None:
    moves = plan(DIAMOND, {"a": "Finished", "b": "Failed"}, {"c"}, continue_on_step_failure=False)
    assert moves.ready == [] and moves.to_cancel == ["c"] and not moves.done
    assert "failed and continue_on_step_failure is False" in moves.skipped["d"] or "upstream" in moves.skipped["d"]
    over = plan(DIAMOND, {"a": "Finished", "b": "Failed", "c": "Canceled", "d": "Canceled"})
    assert over.done and over.outcome == "Failed"


def test_continue_on_failure_runs_independent_branch() -> None:
    graph = {"a": [], "b": ["a"], "x": [], "y": ["x"]}
    moves = plan(graph, {"a": "Failed"}, {"x"}, continue_on_step_failure=True)
    assert moves.skipped == {"b": "upstream step 'a' did not finish"}
    assert moves.to_cancel == []
    moves = plan(graph, {"a": "Failed", "b": "Canceled", "x": "Finished"}, continue_on_step_failure=True)
    assert moves.ready == ["y"]
    end = plan(graph, {"a": "Failed", "b": "Canceled", "x": "Finished", "y": "Finished"}, continue_on_step_failure=True)
    assert end.done and end.outcome == "Failed" and end.failed_steps == ["a"]


def test_cancel_skips_rest_and_ends_canceled() -> None:
    moves = plan(DIAMOND, {"a": "Finished"}, {"b"}, cancel_requested=True)
    assert moves.to_cancel == ["b"] and set(moves.skipped) == {"c", "d"}
    end = plan(DIAMOND, {"a": "Finished", "b": "Canceled", "c": "Canceled", "d": "Canceled"}, cancel_requested=True)
    assert end.outcome == "Canceled"


def test_reuse_key_changes_with_each_part_and_names_it() -> None:
    step = {"type": "PythonScriptStep", "snapshot": "s1", "script_name": "a.py"}
    base_key, base = reuse_key(step, ["--x", "1"], {}, {"raw": {"etags": "e1"}}, {})
    same_key, _ = reuse_key(dict(step), ["--x", "1"], {}, {"raw": {"etags": "e1"}}, {})
    assert base_key == same_key
    key, parts = reuse_key({**step, "snapshot": "s2"}, ["--x", "1"], {}, {"raw": {"etags": "e1"}}, {})
    assert key != base_key and changed_parts(base, parts) == ["snapshot"]
    key, parts = reuse_key(step, ["--x", "1"], {}, {"raw": {"etags": "e2"}}, {})
    assert key != base_key and changed_parts(base, parts) == ["input raw"]
    key, parts = reuse_key(step, ["--x", "2"], {}, {"raw": {"etags": "e1"}}, {})
    assert changed_parts(base, parts) == ["arguments"]
    assert changed_parts(None, parts) == ["no earlier run"]
