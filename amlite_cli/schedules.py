"""``amlite schedules create|list|show|enable|disable|next|history|tick``: schedules from a terminal.

Every command goes through the SDK's ``Schedule`` (so a workspace with an
``endpoint`` is served by its REST API, a local one by its tables) and prints
a table; a broken rule exits 2 with the rule's message, as the rest of the CLI.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline_core.errors import AmliteError
from pipeline_core.run_text import trigger_text

console = Console(highlight=False, soft_wrap=True)


def _workspace() -> Any:
    from pipeline_core.core.workspace import Workspace

    return Workspace.from_config()


def _ints(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise AmliteError(f"--{what} must be comma-separated whole numbers, e.g. --{what} 9,17; got {text!r}") \
            from None


def _params(pairs: list[str] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise AmliteError(f"--param {pair!r} must look like name=value")
        try:
            values[name] = json.loads(value) if value[:1] in "{[" else value
        except json.JSONDecodeError:
            values[name] = value
    return values


def _recurrence(args: argparse.Namespace) -> Any:
    from pipeline_core.schedules.recurrence import ScheduleRecurrence

    if args.frequency is None:
        pattern = (args.interval, args.start_time, args.time_zone, args.hours, args.minutes, args.week_days,
                   args.time_of_day)
        if any(value is not None for value in pattern):
            raise AmliteError("--interval, --start-time, --time-zone, --hours, --minutes, --week-days and "
                              "--time-of-day describe a recurrence: add --frequency (Minute, Hour, Day, Week, Month)")
        return None
    try:
        return ScheduleRecurrence(args.frequency, args.interval if args.interval is not None else 1,
                                  start_time=args.start_time, time_zone=args.time_zone,
                                  hours=_ints(args.hours, "hours"), minutes=_ints(args.minutes, "minutes"),
                                  week_days=args.week_days.split(",") if args.week_days else None,
                                  time_of_day=args.time_of_day)
    except ValueError as exc:
        raise AmliteError(str(exc)) from None


def cmd_create(args: argparse.Namespace) -> int:
    from pipeline_core.pipeline.core.schedule import Schedule

    ws = _workspace()
    common: dict[str, Any] = dict(
        recurrence=_recurrence(args), description=args.description, pipeline_parameters=_params(args.param),
        datastore=args.datastore, data_path_parameter_name=args.data_path_parameter,
        path_on_datastore=args.path, continue_on_step_failure=args.continue_on_step_failure,
        run_now=False if args.no_run_now else None, recursive=not args.no_recursive,
        debounce_seconds=args.debounce)
    if args.polling_interval is not None:
        common["polling_interval"] = args.polling_interval
    if bool(args.pipeline_id) == bool(args.pipeline_endpoint_id):
        raise AmliteError("give exactly one of --pipeline-id or --pipeline-endpoint-id")
    if args.pipeline_id:
        schedule = Schedule.create(ws, args.name, args.pipeline_id, args.experiment, **common)
    else:
        schedule = Schedule.create_for_pipeline_endpoint(ws, args.name, args.pipeline_endpoint_id, args.experiment,
                                                         **common)
    console.print(f"created schedule [bold]{schedule.id}[/] ({schedule.name}), {schedule.status}")
    _print_one(schedule)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from pipeline_core.pipeline.core.schedule import Schedule

    schedules = Schedule.list(_workspace(), active_only=not args.all, pipeline_id=args.pipeline_id,
                              pipeline_endpoint_id=args.pipeline_endpoint_id)
    table = Table()
    for column in ("id", "name", "status", "pipeline / endpoint", "trigger", "next fire (UTC)"):
        table.add_column(column, overflow="fold")
    for s in schedules:
        table.add_row(s.id, s.name, s.status, s.pipeline_id or f"endpoint {s.pipeline_endpoint_id}", trigger_text(s),
                      s.next_fire_time or "-")
    console.print(table)
    return 0


def _print_one(schedule: Any) -> None:
    rows = [("id", schedule.id), ("name", schedule.name), ("status", schedule.status),
            ("description", schedule.description or "-"),
            ("pipeline", schedule.pipeline_id or f"endpoint {schedule.pipeline_endpoint_id}"),
            ("experiment", schedule.experiment_name), ("trigger", trigger_text(schedule)),
            ("next fire (UTC)", schedule.next_fire_time or "-"),
            ("DataPath parameter", schedule.data_path_parameter_name or "-")]
    entity = schedule._entity
    if entity.get("PipelineParameters"):
        rows.append(("parameters", json.dumps(entity["PipelineParameters"])))
    if entity.get("LastRunId"):
        rows.append(("last run", f"{entity['LastRunId']} (fire {entity.get('LastFireTime') or '-'})"))
    if entity.get("PendingChange"):
        pending = entity["PendingChange"]
        rows.append(("held change", f"{pending.get('Blob')} ({pending.get('Changes')} change(s)), fires at "
                                    f"{pending.get('FiresAt')}"))
    for key, value in rows:
        console.print(Text(f"  {key:<20}{value}"))


def cmd_show(args: argparse.Namespace) -> int:
    from pipeline_core.pipeline.core.schedule import Schedule

    _print_one(Schedule.get(_workspace(), args.schedule_id))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline_core.pipeline.core.schedule import Schedule

    schedule = Schedule.get(_workspace(), args.schedule_id)
    if args.enable:
        schedule.enable()
    else:
        schedule.disable()
    console.print(f"schedule {schedule.id} ({schedule.name}) is {schedule.status}"
                  + (f"; next fire {schedule.next_fire_time}" if schedule.next_fire_time else ""))
    return 0


def cmd_next(args: argparse.Namespace) -> int:
    from datetime import datetime

    from pipeline_core.pipeline.core.schedule import Schedule
    from pipeline_core.schedules.timezones import to_zoneinfo

    if not 1 <= args.count <= 100:
        raise AmliteError(f"--count must be from 1 to 100, got {args.count}")
    schedule = Schedule.get(_workspace(), args.schedule_id)
    if schedule.recurrence is None:
        console.print("a data-change schedule fires when blobs change, not at set times")
        return 0
    times = schedule.get_next_fire_times(args.count)
    if not times:
        console.print(f"schedule {schedule.id} is {schedule.status}: no fire times until it is enabled")
        return 0
    zone = to_zoneinfo(schedule.recurrence.time_zone)
    table = Table()
    table.add_column("UTC")
    table.add_column(f"local ({schedule.recurrence.to_dict().get('time_zone') or 'UTC'})")
    for t in times:
        table.add_row(t, datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(zone).isoformat())
    console.print(table)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from pipeline_core.pipeline.core.schedule import Schedule

    decisions = Schedule.get(_workspace(), args.schedule_id).get_history(args.top)
    table = Table()
    for column in ("time", "decision", "trigger", "run", "fire time / blob", "message"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        decision = d["Decision"] + (f": {d['Reason']}" if d.get("Reason") else "")
        what = d.get("FireTime") or (f"{d.get('DataStoreName')}/{d.get('Blob')}" if d.get("Blob") else "-")
        table.add_row(d.get("Time") or "", decision, d.get("Trigger") or "", d.get("RunId") or "-", what,
                      d.get("Message") or "")
    console.print(table)
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    """One tick now, in this process (a local workspace without a running host)."""
    from pipeline_core.engine.services import services_for
    from pipeline_core.schedules.firing import local_starter
    from pipeline_core.schedules.tick import run_tick

    ws = _workspace()
    if ws.endpoint:
        raise AmliteError("`amlite schedules tick` is for a local workspace; the Functions app ticks by itself")
    services = services_for(ws.storage)
    report = run_tick(services, local_starter(services))
    for d in report.decisions:
        console.print(Text(f"{d.schedule_id}: {d.decision} {d.reason} {d.run_id} {d.message}".strip()))
    for error in report.errors:
        console.print(Text(error, style="red"))
    if not report.decisions and not report.errors:
        console.print("nothing was due")
    return 1 if report.errors else 0


def add_schedule_commands(subparsers: Any) -> None:
    """Register ``amlite schedules ...`` on the top-level parser's subparsers."""
    schedules = subparsers.add_parser("schedules", help="create, list and inspect pipeline schedules")
    sub = schedules.add_subparsers(dest="schedules_command", required=True)

    create = sub.add_parser("create", help="schedule a published pipeline (recurrence or data change)")
    create.add_argument("name")
    create.add_argument("--pipeline-id")
    create.add_argument("--pipeline-endpoint-id")
    create.add_argument("--experiment", required=True)
    create.add_argument("--description")
    create.add_argument("--param", action="append", metavar="NAME=VALUE", help="a pipeline parameter (repeatable)")
    create.add_argument("--continue-on-step-failure", action="store_true", default=None)
    when = create.add_argument_group("recurrence")
    when.add_argument("--frequency", help="Minute, Hour, Day, Week or Month (Hourly etc. work too)")
    when.add_argument("--interval", type=int)
    when.add_argument("--start-time", help="wall-clock start in --time-zone, e.g. 2024-06-01T02:00:00")
    when.add_argument("--time-zone", help="Windows id ('GMT Standard Time') or IANA name; default UTC")
    when.add_argument("--hours", help="comma-separated, e.g. 9,17 (Day/Week)")
    when.add_argument("--minutes", help="comma-separated, e.g. 0,30 (Day/Week)")
    when.add_argument("--week-days", help="comma-separated, e.g. Monday,Friday (Week)")
    when.add_argument("--time-of-day", help="HH:MM (Day/Week)")
    when.add_argument("--no-run-now", action="store_true", help="without --start-time, do not run right away")
    data = create.add_argument_group("data change")
    data.add_argument("--datastore", help="watch this Azure Blob datastore")
    data.add_argument("--path", help="folder on the datastore to watch, e.g. incoming/")
    data.add_argument("--no-recursive", action="store_true", help="ignore changes in sub-folders (AML's behaviour)")
    data.add_argument("--polling-interval", type=int, help="minutes between polls (default 5)")
    data.add_argument("--data-path-parameter", help="DataPath pipeline parameter that receives the changed blob")
    data.add_argument("--debounce", type=float, default=0.0, metavar="SECONDS",
                      help="a burst of changes within this window starts one run")
    create.set_defaults(func=cmd_create)

    listing = sub.add_parser("list", help="list schedules, newest first")
    listing.add_argument("--all", action="store_true", help="disabled ones too")
    listing.add_argument("--pipeline-id")
    listing.add_argument("--pipeline-endpoint-id")
    listing.set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="a schedule's settings, last run and held change")
    show.add_argument("schedule_id")
    show.set_defaults(func=cmd_show)
    for name, enable in (("enable", True), ("disable", False)):
        command = sub.add_parser(name, help=f"{name} a schedule")
        command.add_argument("schedule_id")
        command.set_defaults(func=cmd_status, enable=enable)
    upcoming = sub.add_parser("next", help="the next fire times, in UTC and the schedule's time zone")
    upcoming.add_argument("schedule_id")
    upcoming.add_argument("--count", type=int, default=5)
    upcoming.set_defaults(func=cmd_next)
    history = sub.add_parser("history", help="every trigger decision: fired, or skipped and why")
    history.add_argument("schedule_id")
    history.add_argument("--top", type=int, default=50)
    history.set_defaults(func=cmd_history)
    tick = sub.add_parser("tick", help="run one schedules tick now in this process (local workspace, no host)")
    tick.set_defaults(func=cmd_tick)
