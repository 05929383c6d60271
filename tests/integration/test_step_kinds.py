"""A step kind added from outside the engine runs in a pipeline, locally, through the real orchestrator replay.

``constant_step_kind.py`` is the whole kind (one module, one registration); nothing in
``pipeline_core`` or ``functions`` names it. A local submit runs ``pipeline_run`` in the
in-process Durable engine, so the step goes through ``start_run`` -> the registry's
orchestration -> ``run_step`` -> the kind's executor on a ``StepContext``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from constant_step_kind import ConstantStep

from pipeline_core import Experiment, Pipeline, PipelineData, PipelineParameter, PythonScriptStep, Workspace
from pipeline_core.engine.step_kinds import registered_types, step_kind

pytestmark = pytest.mark.integration

READ = ("import sys, pathlib\n"
        "value = pathlib.Path(sys.argv[1], 'value.txt').read_text()\n"
        "print('read', value)\n"
        "pathlib.Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)\n"
        "pathlib.Path(sys.argv[2], 'echo.txt').write_text(value.upper())\n")


def _pipeline(ws: Workspace, src: Path) -> Pipeline:
    constant, echoed = PipelineData("constant"), PipelineData("echoed")
    value = PipelineParameter("value", default_value="hello")
    make = ConstantStep("make", value=value, output=constant)
    read = PythonScriptStep("read.py", name="read", arguments=[constant, echoed], inputs=[constant],
                            outputs=[echoed], source_directory=str(src))
    return Pipeline(ws, [make, read])


def _echoed(run, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    folder = run.find_step_run("read")[0].get_output_data("echoed").download(str(tmp_path / uuid.uuid4().hex),
                                                                             show_progress=False)
    return (Path(folder) / "echo.txt").read_text()


def test_a_step_kind_from_one_module_runs_feeds_a_script_step_and_is_reused(
        workspace: Workspace, source_dir: Path, experiment_name: str, tmp_path: Path) -> None:
    (source_dir / "read.py").write_text(READ)
    assert "ConstantStep" in registered_types() and step_kind("ConstantStep").script is False

    # Values of this test's own: reuse is workspace-wide, so an emulator kept from an earlier session may
    # hold a run of "hello" already.
    hello, bye = f"hello{uuid.uuid4().hex[:6]}", f"bye{uuid.uuid4().hex[:6]}"
    first = Experiment(workspace, experiment_name).submit(_pipeline(workspace, source_dir),
                                                          pipeline_parameters={"value": hello})
    assert first.wait_for_completion(show_output=False) == "Finished"
    assert _echoed(first, tmp_path) == hello.upper()
    make = first.find_step_run("make")[0]
    assert not make.is_reused and f"[constant] wrote '{hello}' to value.txt" in make.get_job_log()
    assert f"read {hello}" in first.find_step_run("read")[0].get_stdout_log()

    again = Experiment(workspace, experiment_name).submit(_pipeline(workspace, source_dir),
                                                          pipeline_parameters={"value": hello})
    assert again.wait_for_completion(show_output=False) == "Finished"
    assert again.find_step_run("make")[0].is_reused and again.find_step_run("read")[0].is_reused

    changed = Experiment(workspace, experiment_name).submit(_pipeline(workspace, source_dir),
                                                            pipeline_parameters={"value": bye})
    assert changed.wait_for_completion(show_output=False) == "Finished"
    make = changed.find_step_run("make")[0]
    assert not make.is_reused and make.get_details()["reuse"]["changed"] == ["params"]
    assert _echoed(changed, tmp_path) == bye.upper()
