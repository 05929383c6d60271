"""Data-change schedules: a changed blob, matched to the schedules watching it, and one decision each.

A change arrives from the blob trigger (``functions/schedules.py``: the
default datastore's container) or from the timer's polling pass
(``polling.py``: every data-change schedule, at its ``polling_interval``).
For each schedule whose datastore is that container and whose
``path_on_datastore`` holds the blob (sub-folders too, unless
``recursive=False``, AML's "no sub-folders"):

1. a disabled schedule records ``skipped: disabled``;
2. the blob version (schedule, blob, ETag) is taken in by an insert-if-absent
   row (``scheduleblobs``); a version already taken in is ``skipped: duplicate``;
3. without debounce the run starts now, its ``data_path_parameter_name``
   parameter set to the blob as a DataPath;
4. with ``debounce_seconds`` the version is held on the schedule row; a newer
   change within the window (by the blobs' last-modified times) supersedes it
   (``skipped: debounced``), and the held one fires once the window passes
   quietly (the next tick), so a burst of uploads starts one run, for its
   newest blob. A burst that never pauses still fires after
   ``DEBOUNCE_MAX_WAIT_FACTOR`` windows.

A blob written by a run this schedule started (``{run_id}/...``) is skipped
(``own-output``): firing on it would loop forever.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from pipeline_core.engine.services import Services
from pipeline_core.errors import NotFoundError
from pipeline_core.schedules.claims import STALE_CLAIM, FireContext, claim, decision_for, finish
from pipeline_core.schedules.firing import Starter, blob_fire_key, fire, fire_run_id
from pipeline_core.storage.schedule_blob_store import CLAIMED, DEBOUNCED, PENDING
from pipeline_core.storage.schedule_blob_store import FAILED as BLOB_FAILED
from pipeline_core.storage.schedule_blob_store import FIRED as BLOB_FIRED
from pipeline_core.storage.schedule_decision_store import DEBOUNCED as DECISION_DEBOUNCED
from pipeline_core.storage.schedule_decision_store import DISABLED, DUPLICATE, OWN_OUTPUT, SKIPPED, Decision
from pipeline_core.storage.schedule_store import ScheduleRecord, iso, parse_time

BLOB_TRIGGER, POLL, DEBOUNCE = "blob-trigger", "poll", "debounce"
DEBOUNCE_MAX_WAIT_FACTOR = 10
#: Blob last-modified times have a resolution of one second: a blob written in the second a schedule started
#: watching counts as changed after it.
LAST_MODIFIED_RESOLUTION = timedelta(seconds=1)
_UTC = timezone.utc


@dataclass(frozen=True)
class BlobChange:
    """A blob that was created or overwritten. ``etag``/``last_modified`` are read from storage when absent."""

    container: str
    blob: str
    etag: str = ""
    last_modified: datetime | None = None
    source: str = BLOB_TRIGGER


def watches(record: ScheduleRecord, blob: str) -> bool:
    """Whether ``blob`` is under the schedule's ``path_on_datastore`` (folder semantics; sub-folders if recursive).

    ``incoming/`` and ``incoming`` both mean the folder ``incoming``; a path naming
    one blob watches that blob. An empty path watches the whole container.
    """
    path = (record.path_on_datastore or "").lstrip("/")
    if not path:
        rest = blob
    elif path.endswith("/"):
        if not blob.startswith(path):
            return False
        rest = blob[len(path):]
    elif blob == path:
        return True
    elif blob.startswith(path + "/"):
        rest = blob[len(path) + 1:]
    else:
        return False
    return bool(rest) and (record.recursive or "/" not in rest)


def listing_prefix(record: ScheduleRecord) -> str | None:
    """The narrowest ``name_starts_with`` that still lists every blob the schedule watches."""
    return (record.path_on_datastore or "").lstrip("/") or None


def on_container(services: Services, datastore: str, container: str) -> bool:
    """Whether ``datastore`` is ``container`` on the workspace's account (the account a blob trigger watches)."""
    from pipeline_core.core.datastore import Datastore

    try:
        store = Datastore.get(services.workspace, datastore)
    except NotFoundError:  # unregistered since the schedule was made
        return False
    return store.container_name == container and not store._storage


def _with_version(services: Services, datastore: str, change: BlobChange) -> BlobChange | None:
    """``change`` with its ETag and last-modified time; None when the blob is already gone."""
    if change.etag and change.last_modified is not None:
        return change
    try:
        props = services.container_for(datastore).get_blob_client(change.blob).get_blob_properties()
    except ResourceNotFoundError:
        return None
    return replace(change, etag=change.etag or str(props.etag).strip('"'),
                   last_modified=change.last_modified or props.last_modified)


def on_blob_changed(services: Services, change: BlobChange, starter: Starter,
                    now: datetime | None = None) -> list[Decision]:
    """Every decision a changed blob causes, over all schedules watching its container and path.

    One table query when no data-change schedule watches the path (the common
    case: most writes are step outputs), so a container scan stays cheap.
    """
    ctx = FireContext(services, starter, now or datetime.now(_UTC))
    candidates = [r for r in ctx.schedules.data_change() if watches(r, change.blob)]
    decisions: list[Decision] = []
    versions: dict[str, BlobChange | None] = {}
    for record in candidates:
        name = record.datastore_name
        if name not in versions:
            versions[name] = _with_version(services, name, change) if on_container(services, name,
                                                                                    change.container) else None
        version = versions[name]
        if version is not None:
            decisions.extend(decide(ctx, record, version))
    return decisions


def decide(ctx: FireContext, record: ScheduleRecord, change: BlobChange, quiet_if_seen: bool = False) -> list[Decision]:
    """The decision(s) for one schedule and one blob version (a supersede records two)."""
    modified = change.last_modified
    since = parse_time(record.watch_since)
    if modified is not None and since is not None and modified < since - LAST_MODIFIED_RESOLUTION:
        return []  # last changed before the schedule watched (e.g. a trigger's first scan of old blobs)
    datastore = record.datastore_name
    base = {"trigger": change.source, "datastore": datastore, "blob": change.blob, "etag": change.etag}
    if not record.is_active:
        return [ctx.decisions.record(Decision(record.id, SKIPPED, change.source, DISABLED, datastore=datastore,
                                              blob=change.blob, etag=change.etag,
                                              message="the schedule is Disabled"), at=ctx.now)]
    producer = _own_output(ctx, record, change.blob)
    if producer is not None:
        return [ctx.decisions.record(Decision(
            record.id, SKIPPED, change.source, OWN_OUTPUT, datastore=datastore, blob=change.blob, etag=change.etag,
            message=f"written by run {producer}, which this schedule started: firing again would loop; write "
                    "outputs outside path_on_datastore"), at=ctx.now)]
    run_id = fire_run_id(record.id, blob_fire_key(datastore, change.blob, change.etag))
    debounced = record.debounce_seconds > 0
    seen = ctx.seen.take_in(record.id, datastore, change.blob, change.etag, PENDING if debounced else CLAIMED,
                            run_id, ctx.now)
    if seen is not None:
        if not (seen.stale(ctx.now, STALE_CLAIM) and ctx.seen.take_over(seen, ctx.now)):
            if quiet_if_seen:
                return []  # the poll re-lists recent blobs on purpose: not a new event
            return [ctx.decisions.record(Decision(record.id, SKIPPED, change.source, DUPLICATE, run_id=seen.run_id,
                                                  datastore=datastore, blob=change.blob, etag=change.etag,
                                                  message=f"this blob version was already taken in ({seen.state})"),
                                         at=ctx.now)]
    if debounced:
        return _hold(ctx, record, change, run_id)
    datapath = {"datastore": datastore, "path": change.blob}
    result = fire(ctx.services, record, run_id, ctx.starter, datapath=datapath,
                  note=f"started by schedule {record.name!r} ({record.id}): {datastore}/{change.blob} changed")
    ctx.seen.settle(record.id, datastore, change.blob, change.etag, BLOB_FIRED if result.started else BLOB_FAILED,
                    run_id, ctx.now)
    return [ctx.decisions.record(decision_for(record, base, result), at=ctx.now, key=run_id)]


def _own_output(ctx: FireContext, record: ScheduleRecord, blob: str) -> str | None:
    """The run id when ``blob`` is an output of a run this schedule started (``azureml/{run_id}_{step}/...``,
    or ``{run_id}/{step}/...`` for ParallelRunStep files and outputs of older runs)."""
    parts = blob.split("/", 2)
    first = parts[1].split("_", 1)[0] if parts[0] == "azureml" and len(parts) > 1 else parts[0]
    try:
        uuid.UUID(first)
    except ValueError:
        return None
    try:
        row = ctx.services.runs.get_run(first)
    except NotFoundError:
        return None
    return first if row.get("schedule_id") == record.id else None


def _hold(ctx: FireContext, record: ScheduleRecord, change: BlobChange, run_id: str) -> list[Decision]:
    """Hold ``change`` for the debounce window; the loser of the two (older last-modified) is ``debounced``.

    The window runs on the blobs' last-modified times, not on when events are
    processed: a burst uploaded within the window is one burst even when its
    events arrive late or out of order. It fires ``debounce_seconds`` after
    its newest blob (at most ``DEBOUNCE_MAX_WAIT_FACTOR`` windows after its first).
    """
    window = timedelta(seconds=record.debounce_seconds)
    modified = change.last_modified or ctx.now
    decisions: list[Decision] = []
    current = record
    for attempt in range(50):
        if attempt:
            time.sleep(random.uniform(0, 0.01 * min(attempt, 10)))  # a burst contends for one row: spread out
        previous = current.pending
        previous_deadline = parse_time(current.pending_deadline)
        if previous and previous_deadline is not None and modified > previous_deadline:
            decisions.extend(fire_pending(ctx, current))  # this change came after that burst went quiet
            current = ctx.schedules.get(record.id)
            continue
        latest = parse_time(str(previous["latest"])) if previous else None
        since = parse_time(str(previous["since"])) if previous else modified
        assert since is not None
        newest = latest is None or modified >= latest
        top = modified if newest else latest
        assert top is not None
        this = {"datastore": current.datastore_name, "blob": change.blob, "etag": change.etag, "run_id": run_id,
                "trigger": change.source}
        held = {**(this if newest else {k: previous[k] for k in this}),  # type: ignore[index]
                "since": iso(min(since, modified)), "latest": iso(top),
                "count": int(previous["count"]) + 1 if previous else 1}
        deadline = min(top + window, min(since, modified) + window * DEBOUNCE_MAX_WAIT_FACTOR)
        if ctx.schedules.swap(current, replace(current, pending=held, pending_deadline=iso(deadline))) is not None:
            if previous and newest:
                decisions.append(_superseded(ctx, record, previous, change.blob))
            elif previous:
                decisions.append(_superseded(ctx, record, this, str(previous["blob"])))
            return decisions
        current = ctx.schedules.get(record.id)
    raise RuntimeError(f"schedule {record.id}: the pending change kept changing; the blob trigger will retry")


def _superseded(ctx: FireContext, record: ScheduleRecord, loser: dict[str, Any], by: str) -> Decision:
    ctx.seen.settle(record.id, str(loser["datastore"]), str(loser["blob"]), str(loser["etag"]), DEBOUNCED, "",
                    ctx.now)
    return ctx.decisions.record(Decision(
        record.id, SKIPPED, str(loser.get("trigger") or BLOB_TRIGGER), DECISION_DEBOUNCED,
        datastore=str(loser["datastore"]), blob=str(loser["blob"]), etag=str(loser["etag"]),
        message=f"superseded by {by} within the {record.debounce_seconds:g} s debounce window"), at=ctx.now)


def fire_pending(ctx: FireContext, record: ScheduleRecord) -> list[Decision]:
    """Fire the held change once its window passed (claimed on the row, so once); a disabled schedule drops it."""
    pending = dict(record.pending or {})
    if not pending:
        return []
    details = {"trigger": DEBOUNCE, "datastore": pending["datastore"], "blob": pending["blob"],
               "etag": pending["etag"], "datapath": {"datastore": pending["datastore"], "path": pending["blob"]},
               "note": f"started by schedule {record.name!r} ({record.id}): {pending['datastore']}/"
                       f"{pending['blob']} changed (last of {pending.get('count', 1)} change(s) in the burst)",
               "message": f"last of {pending.get('count', 1)} change(s) within the debounce window"}
    if not record.is_active:
        cleared = ctx.schedules.swap(record, replace(record, pending=None, pending_deadline=""))
        if cleared is None:
            return []
        ctx.seen.settle(record.id, str(pending["datastore"]), str(pending["blob"]), str(pending["etag"]),
                        BLOB_FAILED, "", ctx.now)
        return [ctx.decisions.record(Decision(record.id, SKIPPED, DEBOUNCE, DISABLED,
                                              datastore=str(pending["datastore"]), blob=str(pending["blob"]),
                                              etag=str(pending["etag"]),
                                              message="the schedule was disabled before the held change fired"),
                                     at=ctx.now)]
    claimed = claim(ctx, record, str(pending["run_id"]), details, pending=None, pending_deadline="",
                    last_fire_time=iso(ctx.now))
    if claimed is None:
        return []
    return [finish(ctx, claimed)]

