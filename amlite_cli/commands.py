"""``amlite``: run, validate and follow pipelines from a terminal.

``amlite run driver.py`` is the equivalent of the AML starter template's
``driver.py --local``: the file defines ``pipeline``; amlite submits it and
follows it. Exit codes: 0 finished, 1 the run failed or was canceled, 2 a bad
file or argument (with a message that says which and how to fix it).
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from amlite_cli.schedules import add_schedule_commands
from pipeline_core.errors import AmliteError, ValidationError
from pipeline_core.errors import UsageError as UsageError
from pipeline_core.run_text import progress_text, reuse_text
from pipeline_core.status import RunStatus

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)



def _load_pipeline(path: str) -> Any:
    from pipeline_core.pipeline.core.pipeline import Pipeline

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"pipeline file {path!r} does not exist")
    sys.path.insert(0, str(file.parent.resolve()))
    try:
        namespace = runpy.run_path(str(file), run_name="__amlite__")
    except SystemExit as exc:
        raise UsageError(f"{path} called sys.exit({exc.code}) while being loaded; guard submission code with "
                         "`if __name__ == '__main__':`") from None
    except Exception as exc:
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)
        here = next((f for f in reversed(frames) if Path(f.filename).resolve() == file.resolve()), frames[-1])
        raise UsageError(f"{path} raised {type(exc).__name__} at line {here.lineno} while defining the pipeline: "
                         f"{exc}") from None
    pipeline = namespace.get("pipeline")
    if not isinstance(pipeline, Pipeline):
        found = [k for k, v in namespace.items() if isinstance(v, Pipeline)]
        if len(found) == 1:
            return namespace[found[0]]
        raise UsageError(f"{path} must define a Pipeline named `pipeline` (found: {', '.join(found) or 'none'})")
    return pipeline


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--param {pair!r} must look like name=value")
        name, value = pair.split("=", 1)
        if value.startswith("{"):
            try:
                params[name] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        params[name] = value
    return params


def _workspace() -> Any:
    from pipeline_core.core.workspace import Workspace

    return Workspace.from_config()


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.engine.submit import ParameterError

    pipeline = _load_pipeline(args.pipeline_file)
    params = _parse_params(args.param or [])
    try:
        run = Experiment(pipeline.workspace, args.experiment).submit(
            pipeline, pipeline_parameters=params, regenerate_outputs=args.regenerate_outputs)
    except (ValidationError, ParameterError) as exc:
        raise UsageError(str(exc)) from None
    if args.no_wait:
        console.print(run.id)
        return 0
    status = run.wait_for_completion(show_output=not args.quiet, raise_on_error=False)
    _print_summary(run)
    return 0 if status == RunStatus.FINISHED else 1


def _print_summary(run: Any) -> None:
    table = Table(title=f"run {run.id}")
    for column in ("step", "status", "reused"):
        table.add_column(column, no_wrap=True)
    table.add_column("outputs", overflow="fold")
    for step in sorted(run.get_steps(), key=lambda s: int(s._row.get("index") or 0)):
        outs = ", ".join(f"{n} -> {o.get_port_data_reference().datastore_name}/"
                         f"{o.get_port_data_reference().path_on_datastore}" for n, o in step.get_outputs().items())
        reused = f"yes ({step.reused_run_id[:8]})" if step.is_reused else "no"
        table.add_row(step.name, step.status, reused, outs)
    console.print(table)


def cmd_validate(args: argparse.Namespace) -> int:
    pipeline = _load_pipeline(args.pipeline_file)
    errors = pipeline.validate()
    if errors:
        err.print(f"[red]{len(errors)} problem(s)[/] in {args.pipeline_file}:")
        for message in errors:
            err.print(Text(f"  - {message}"))
        return 2
    console.print(f"[green]valid[/]: {len(pipeline.steps)} steps, graph id {pipeline.graph_id}")
    return 0


def _run_store() -> Any:
    """The workspace's run rows, without the engine: ``runs`` and ``show`` read tables only (no Blob SDK)."""
    from pipeline_core.storage.account import get_account
    from pipeline_core.storage.run_store import RunStore

    return RunStore(get_account(_workspace().storage))


def cmd_runs(args: argparse.Namespace) -> int:
    rows = _run_store().list_runs(args.experiment, top=args.top)
    table = Table()
    for column in ("run id", "experiment", "status", "created", "ended"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["PartitionKey"], row.get("experiment", ""), row.get("status", ""),
                      row.get("created_time", ""), row.get("end_time", ""))
    console.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _run_store()
    state = store.get_state(args.run_id)
    run = state.run
    console.print(f"run [bold]{args.run_id}[/]  experiment {run.get('experiment')}  status {run.get('status')}")
    console.print(f"  created {run.get('created_time')}  started {run.get('start_time') or '-'}  "
                  f"ended {run.get('end_time') or '-'}")
    if run.get("parameters"):
        console.print(Text(f"  parameters {json.dumps(run['parameters'])}"))
    if run.get("error"):
        console.print(Text(f"  error: {run['error'].get('message')}", style="red"))
    table = Table()
    with_progress = any(isinstance(row.get("progress"), dict) for row in state.steps.values())
    for column in ("step", "status", "attempt", "started", "ended", "reuse",
                   *(["progress"] if with_progress else [])):
        table.add_column(column)
    for name, row in state.steps.items():
        cells = [name, row.get("status", ""), str(row.get("attempt") or ""), row.get("start_time", ""),
                 row.get("end_time", ""), reuse_text(row)]
        if with_progress:
            cells.append(progress_text(row.get("progress")))
        table.add_row(*cells)
    console.print(table)
    _print_metrics(store.account, args.run_id)
    return 0


def _print_metrics(account: Any, run_id: str) -> None:
    """One line per step that logged metrics (``Run.get_context().log``); "(run)" for ``run.parent.log``."""
    from pipeline_core.runcontext.values import short
    from pipeline_core.storage.metric_store import MetricStore

    metrics = {step: values for step, values in MetricStore(account).metrics(run_id).items() if values}
    if metrics:
        console.print("metrics:")
    for step, values in metrics.items():
        console.print(Text(f"  {step or '(run)'}: {short(values)}"))


def cmd_logs(args: argparse.Namespace) -> int:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.engine.services import services_for
    from pipeline_core.pipeline.core.run import PipelineRun

    ws = _workspace()
    state = services_for(ws.storage).runs.get_state(args.run_id)
    run = PipelineRun(Experiment(ws, state.run["experiment"]), args.run_id)
    names = [args.step] if args.step else list(state.steps)
    for name in names:
        if name not in state.steps:
            raise UsageError(f"run {args.run_id} has no step {name!r}; its steps: {', '.join(state.steps)}")
        step = run.find_step_run(name)[0]
        console.rule(name)
        sys.stdout.write(step.get_job_log() or "(no log: the step has not run or was reused)\n")
        sys.stdout.flush()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Serve the Functions app locally: Core Tools' `func start` where installed (--func), else amlite's dev host."""
    import os
    import shutil
    import subprocess

    if args.use_func:
        func = shutil.which("func")
        if func is None:
            raise UsageError("--func needs Azure Functions Core Tools (`func`) on PATH; without it, "
                             "drop --func to use amlite's dev host")
        return subprocess.call([func, "start", "--port", str(args.port)], cwd=args.app_dir)
    from amlite_devhost.app_loader import load_local_settings
    from amlite_local.host import check_exposure
    from amlite_local.host import main as devhost_main
    from pipeline_core.storage.azurite import ensure_azurite

    if args.public_url:
        os.environ["AMLITE_PUBLIC_BASE_URL"] = args.public_url
    try:
        load_local_settings(args.app_dir)  # AMLITE_AUTH may come from there (unset: none, on this machine)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    refused, messages = check_exposure(args.host)
    if refused is not None:  # before Azurite starts; the dev host prints the warnings of an accepted set-up
        for message in messages:
            print(message, file=sys.stderr)
        return refused
    storage = os.environ.get("AMLITE_STORAGE")
    azurite = None
    if not storage or storage.lower() == "usedevelopmentstorage=true":
        azurite = ensure_azurite(location=Path(args.app_dir) / ".azurite")
        storage = azurite.connection_string
    os.environ["AMLITE_STORAGE"] = storage
    os.environ.setdefault("AzureWebJobsStorage", storage)
    try:
        # Runs a stopped host left are resumed (or ended with the reason) by the dev host's own sweep.
        argv = [args.app_dir, "--host", args.host, "--port", str(args.port)]
        if args.no_timers:
            argv.append("--no-timers")
        if args.no_blob_triggers:
            argv.append("--no-blob-triggers")
        return devhost_main(argv, before_exit=azurite.stop if azurite is not None else None)
    finally:
        if azurite is not None:
            azurite.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amlite", description="Azure ML v1 style pipelines, served by Functions")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="submit the pipeline a Python file defines and follow it")
    run.add_argument("pipeline_file")
    run.add_argument("--param", action="append", metavar="NAME=VALUE", help="a pipeline parameter (repeatable)")
    run.add_argument("--experiment", default="amlite-local")
    run.add_argument("--regenerate-outputs", action="store_true", help="run every step, reusing nothing")
    run.add_argument("--no-wait", action="store_true", help="print the run id and return")
    run.add_argument("--quiet", action="store_true", help="no step logs, just the summary")
    run.set_defaults(func=cmd_run)
    validate = sub.add_parser("validate", help="check a pipeline file without running it")
    validate.add_argument("pipeline_file")
    validate.set_defaults(func=cmd_validate)
    runs = sub.add_parser("runs", help="list recent runs, newest first")
    runs.add_argument("--experiment")
    runs.add_argument("--top", type=int, default=20)
    runs.set_defaults(func=cmd_runs)
    show = sub.add_parser("show", help="a run's status, steps and reuse decisions")
    show.add_argument("run_id")
    show.set_defaults(func=cmd_show)
    logs = sub.add_parser("logs", help="print step logs")
    logs.add_argument("run_id")
    logs.add_argument("step", nargs="?")
    logs.set_defaults(func=cmd_logs)
    dev = sub.add_parser("dev", help="serve the Functions app on this machine (HTTP API, schedules, orchestrations)")
    dev.add_argument("app_dir", nargs="?", default=".", help="the Functions app root (holds function_app.py)")
    dev.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; any other needs AMLITE_AUTH key or entra)")
    dev.add_argument("--port", type=int, default=7071)
    dev.add_argument("--public-url", default=None,
                     help="the URL clients reach the host at, for links in answers (AMLITE_PUBLIC_BASE_URL)")
    dev.add_argument("--func", dest="use_func", action="store_true", help="run Core Tools' `func start` instead, where installed")
    dev.add_argument("--no-timers", action="store_true", help="do not fire timer triggers (schedules)")
    dev.add_argument("--no-blob-triggers", action="store_true",
                     help="do not poll containers for blob triggers (data-change schedules)")
    dev.set_defaults(func=cmd_dev)
    add_schedule_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    try:
        return int(args.func(args))
    except UsageError as exc:
        err.print(Text(f"error: {exc}", style="red"))
        return 2
    except AmliteError as exc:
        err.print(Text(f"error: {exc}", style="red"))
        return 2
    except KeyboardInterrupt:
        return 130
