"""A step whose upstream ends while a newer sibling runs starts at once (the pipeline orchestrator's refill timer).

Under Durable's out-of-process replay the extension awaits only the tasks new at a ``task_any``; the
dev host does the same. Before the timer, ``d`` (after ``a``) waited for ``c``, which had started after
``a`` (measured: 16 s late with a 20 s ``c``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pytest

from pipeline_core import Workspace
from pipeline_core.core import Experiment
from pipeline_core.pipeline.core import Pipeline
from pipeline_core.pipeline.steps import PythonScriptStep

pytestmark = pytest.mark.integration


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_dependent_starts_when_its_upstream_ends_not_when_a_newer_sibling_does(workspace: Workspace,
                                                                                 tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("import sys, time; time.sleep(float(sys.argv[1]))\n")

    def step(name: str, seconds: float) -> PythonScriptStep:
        return PythonScriptStep("s.py", name=name, arguments=[str(seconds)], source_directory=str(tmp_path),
                                allow_reuse=False)

    a, b, c, d = step("a", 3), step("b", 0.2), step("c", 12), step("d", 0)
    c.run_after(b)
    d.run_after(a)
    run = Experiment(workspace, f"refill-{uuid.uuid4().hex[:8]}").submit(Pipeline(workspace=workspace,
                                                                                  steps=[a, b, c, d]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Finished"
    rows = {s.name: s.get_details() for s in run.get_steps()}
    assert _at(rows["c"]["startTimeUtc"]) < _at(rows["a"]["endTimeUtc"])  # the setting: c began while a ran
    assert _at(rows["d"]["startTimeUtc"]) - _at(rows["a"]["endTimeUtc"]) < 4  # not after c's 12 s
