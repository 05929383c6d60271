"""The executor of ``PythonScriptStep``: ``python -u script_name arguments...`` in the snapshot's working copy.

Everything around the script (the preamble, the work folder, the log, reuse, the
state transitions) is the ``StepContext``'s; this module is what is particular to
a script: the argv, the supervised process with its run-time limit and cancel
checks, and how its exit becomes the step's result.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from pipeline_core.engine.step_context import StepContext
from pipeline_core.errors import EnvironmentBuildError
from pipeline_core.execution.environments import StepEnvironment, ensure_environment
from pipeline_core.execution.process import STOPPED_SUPERSEDED, run_process
from pipeline_core.execution.snapshot import script_path
from pipeline_core.execution.step_settings import step_settings
from pipeline_core.storage.run_store import CANCELED


def step_python(ctx: StepContext) -> str:
    """The interpreter for the step: the app's, or the cached venv of the packages its environment declares
    (built on first use; ``EnvironmentBuildError`` names the packages when it cannot be)."""
    declared = StepEnvironment.from_spec(ctx.step.get("environment"))
    if declared is None:
        return sys.executable
    started = time.monotonic()
    python = ensure_environment(declared, log=lambda line: ctx.log.note(f"[amlite] {line}"))
    ctx.log.note(f"[amlite] environment {declared.name!r} ({', '.join(declared.pip)}): ready in "
                 f"{time.monotonic() - started:.1f} s")
    return str(python)


def run_script(ctx: StepContext) -> dict[str, Any]:
    settings = step_settings()
    script = ctx.step["script_name"]
    timeout, limit = ctx.timeout(settings)
    src = ctx.working_copy()
    script_path(src, script, ctx.name)
    paths = ctx.download_inputs()
    paths.update(ctx.output_folders())
    try:
        python = step_python(ctx)
    except EnvironmentBuildError as exc:
        return ctx.fail(str(exc))
    argv = [python, "-u", script, *[ctx.resolve(t, paths) for t in ctx.step["arguments"]]]
    env = ctx.environment(paths)
    ctx.log.note(f"[amlite] step {ctx.name!r} of run {ctx.run_id}: {' '.join(argv[2:])}")
    return supervise(ctx, argv, src, env, label=script, timeout=(timeout, limit))


def supervise(ctx: StepContext, argv: list[str], cwd: Path, env: dict[str, str], *, label: str,
              timeout: tuple[float, str] | None = None) -> dict[str, Any]:
    """Run ``argv`` as the step's supervised process and turn its end into the step's result.

    Shared by every kind that runs a process (PythonScriptStep, CommandStep), so each gets the
    same guarantees: its whole process group is killed on cancel, timeout and supersede; its
    output streams into the step log; the outputs are uploaded whatever the exit; a failure
    with ``set_retry`` attempts left is retried. ``label`` names the process in messages
    (``train.py exited with code 2``); ``timeout`` is ``ctx.timeout()`` when the caller has it.
    """
    settings = step_settings()
    seconds, limit = timeout or ctx.timeout(settings)
    result = run_process(argv, cwd, env, ctx.log, timeout=seconds, grace=settings.stop_grace_seconds,
                         should_stop=ctx.stop_reason)
    if result.stopped == STOPPED_SUPERSEDED:  # the newer attempt uploads and records; this one waits for it
        return ctx.await_newer_attempt(seconds)
    outputs = ctx.upload_outputs()  # whatever the process wrote, even on failure
    if result.canceled:
        return ctx.end(CANCELED, {"outputs": outputs, "exit_code": result.exit_code,
                                  "error": {"message": "canceled while running"}})
    if result.timed_out:
        message = f"{label} timed out after {seconds:g} s ({limit}); the step's processes were stopped"
        ctx.raise_if_retries_left(message)
        return ctx.fail(message, outputs, exit_code=result.exit_code, timed_out=True)
    if result.exit_code != 0:
        tail = ctx.log.stderr_text()
        ctx.raise_if_retries_left(f"{label} exited with code {result.exit_code}")
        return ctx.fail(f"{label} exited with code {result.exit_code}"
                        + (f"; last lines of stderr:\n{tail}" if tail else ""), outputs,
                        exit_code=result.exit_code, stderr_tail=tail)
    return ctx.finish(exit_code=0)
