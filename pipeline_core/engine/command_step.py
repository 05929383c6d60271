"""The executor of ``CommandStep``: its command in the snapshot's working copy, supervised like a script.

An argv (``command`` given as a list) runs without a shell; its first item is a
program on ``PATH`` or a file of the snapshot (run by its path, made executable
in the working copy, since a snapshot does not keep file modes). A string runs as
AML runs it, through a shell: ``bash -c`` (``/bin/sh -c`` where bash is missing).
Either way the process gets the step's environment (``AML_PARAMETER_*``,
``AZUREML_DATAREFERENCE_*``, ``Run.get_context()``), the declared environment's
interpreter first on ``PATH`` (so ``python`` is the step's python), and the
supervision of ``script_step.supervise``: its process group dies with the step.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any, cast

from pipeline_core.engine.script_step import step_python, supervise
from pipeline_core.engine.step_context import StepContext
from pipeline_core.errors import EnvironmentBuildError
from pipeline_core.safe_paths import UnsafePathError, safe_join


def shell() -> list[str]:
    """The shell a string command runs in (AML's compute runs it with bash)."""
    found = shutil.which("bash")
    return [found, "-c"] if found else ["/bin/sh", "-c"]


def check_command_step(step: dict[str, Any]) -> list[tuple[str, str]]:
    """The kind's spec check: a shell line that is text, or an argv of at least the program."""
    command = step.get("command")
    if not isinstance(command, dict):
        return [("command", "is missing; give a string (run by a shell) or a list (an argv)")]
    if "shell" in command:
        line = command["shell"]
        if not isinstance(line, dict) or not isinstance(line.get("lit"), str) or not line["lit"].strip():
            return [("command", "must be a non-empty command line")]
        return []
    if command.get("argv") is not True or not step.get("arguments"):
        return [("command", "as a list needs at least the program to run")]
    return []


def _program(src: Path, name: str, step: str) -> str:
    """The argv's program: a file of the snapshot by its path (made executable), else the name for PATH."""
    if "/" not in name and not (src / name).is_file():
        return name
    try:
        path = safe_join(src, name, f"CommandStep {step!r}: command[0]")
    except UnsafePathError:
        return name  # an absolute program (/usr/bin/env): the system's, not the snapshot's
    if path.is_file():
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
        return str(path)
    return name


def run_command(ctx: StepContext) -> dict[str, Any]:
    src = ctx.working_copy()
    paths = ctx.download_inputs()
    paths.update(ctx.output_folders())
    try:
        python = step_python(ctx)
    except EnvironmentBuildError as exc:
        return ctx.fail(str(exc))
    env = ctx.environment(paths)
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH") or os.defpath])
    command = cast(dict[str, Any], ctx.step)["command"]
    if "shell" in command:
        line = command["shell"]["lit"]
        argv = [*shell(), line]
        label = f"command {line.split()[0]!r}" if line.split() else "command"
        ctx.log.note(f"[amlite] step {ctx.name!r} of run {ctx.run_id}: {argv[0]} -c {line}")
    else:
        argv = [ctx.resolve(t, paths) for t in ctx.step["arguments"]]
        label = f"command {argv[0]!r}"
        argv[0] = _program(src, argv[0], ctx.name)
        ctx.log.note(f"[amlite] step {ctx.name!r} of run {ctx.run_id}: {' '.join(argv)} (argv, no shell)")
    return supervise(ctx, argv, src, env, label=label)
