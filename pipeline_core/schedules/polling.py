"""The timer tick's polling pass: list a data-change schedule's path for blobs changed since the last pass.

Why a poll at all when there is a blob trigger: a Functions blob trigger binds
one container (the default datastore's), while a schedule may watch any
registered datastore, on any account; and the trigger itself is best effort
(the host's container scan can lag minutes; on Flex Consumption it needs an
Event Grid subscription). So every data-change schedule is also polled every
``polling_interval`` minutes, as AML does: for other datastores the poll is
the trigger, for the default one it is the safety net. Versions the blob
trigger already took in are passed over quietly (``scheduleblobs``).

The pass is claimed on the schedule row (``last_poll_time``, ETag-guarded), so
two hosts never list the same schedule at once. It lists blobs modified since
the previous listing less :data:`OVERLAP`, which absorbs clock skew between
this host and the storage service; re-listed versions are found taken in.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from pipeline_core.errors import NotFoundError
from pipeline_core.schedules.claims import FireContext
from pipeline_core.schedules.data_change import (
    LAST_MODIFIED_RESOLUTION,
    POLL,
    BlobChange,
    decide,
    listing_prefix,
    watches,
)
from pipeline_core.storage.schedule_decision_store import Decision
from pipeline_core.storage.schedule_store import ScheduleRecord, iso, parse_time

log = logging.getLogger("amlite.schedules")

OVERLAP = timedelta(minutes=2)


def poll_due(record: ScheduleRecord, ctx: FireContext) -> bool:
    last = parse_time(record.last_poll_time)
    return record.is_active and record.is_data_change and (
        last is None or ctx.now - last >= timedelta(minutes=record.polling_interval))


def poll(ctx: FireContext, record: ScheduleRecord) -> list[Decision]:
    """One polling pass over ``record``'s path if its interval has passed; the decisions it made."""
    if not poll_due(record, ctx):
        return []
    started = ctx.now
    claimed = ctx.schedules.swap(record, replace(record, last_poll_time=iso(started)))
    if claimed is None:
        return []  # another host polls it now
    try:
        container = ctx.services.container_for(record.datastore_name)
    except NotFoundError as exc:
        log.warning("schedule %s: not polled: %s", record.id, exc)
        return []
    since = max((t for t in (parse_time(claimed.poll_since), parse_time(claimed.watch_since)) if t is not None),
                default=started - OVERLAP)
    decisions: list[Decision] = []
    for blob in container.list_blobs(name_starts_with=listing_prefix(claimed)):
        if blob.last_modified is None or blob.last_modified < since - LAST_MODIFIED_RESOLUTION \
                or not watches(claimed, blob.name):
            continue
        change = BlobChange(container.container_name, blob.name, str(blob.etag).strip('"'), blob.last_modified,
                            source=POLL)
        decisions.extend(decide(ctx, ctx.schedules.get(record.id), change, quiet_if_seen=True))
    _advance(ctx, record.id)
    return decisions


def _advance(ctx: FireContext, schedule_id: str) -> None:
    """Move ``poll_since`` to this listing's start less the overlap (never before ``watch_since``)."""
    for _ in range(10):
        current = ctx.schedules.get(schedule_id)
        floor = parse_time(current.watch_since)
        mark = ctx.now - OVERLAP
        if floor is not None and mark < floor:
            mark = floor
        if ctx.schedules.swap(current, replace(current, poll_since=iso(mark))) is not None:
            return
