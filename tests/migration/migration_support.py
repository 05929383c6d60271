"""Helpers for the migration tests (fixtures are in conftest.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline_core.pipeline.core.run import PipelineRun

#: every module here: ``pytestmark = MIGRATION``
MIGRATION = [pytest.mark.migration, pytest.mark.integration]


def write(folder: Path, name: str, text: str) -> Path:
    """A step script (or data file) in ``folder``, dedented."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def finished(run: PipelineRun, timeout: float = 120) -> PipelineRun:
    """Wait without printing; the run must end Finished (a failure shows the failing steps' logs)."""
    status = run.wait_for_completion(show_output=False, timeout_seconds=timeout, raise_on_error=False)
    if status != "Finished":
        logs = "\n".join(f"--- {s.name} ({s.get_status()})\n{s.get_job_log()[-1500:]}" for s in run.get_steps()
                         if s.get_status() != "Finished")
        pytest.fail(f"run {run.id} ended {status}:\n{logs}")
    return run


def step_log(run: PipelineRun, step: str) -> str:
    return run.find_step_run(step)[0].get_job_log()
