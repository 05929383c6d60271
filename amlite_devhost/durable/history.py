"""History events in the JSON shape the Python SDK's replay reads.

``DurableOrchestrationContext.from_json`` builds one ``HistoryEvent`` per
entry from the keys ``EventType``, ``EventId``, ``IsPlayed``, ``Timestamp``
plus type-specific keys (``TaskScheduledId``, ``Result``, ``TimerId``,
``Name``, ``Input``, ``Reason``, ``Details``...), the same PascalCase names the
Durable extension sends.  ``ExecutionStarted`` must carry ``Version`` (the SDK
reads it unconditionally).

Each event is serialised once: the history passed to the orchestrator is a
join of cached JSON fragments, so a replay costs O(new events) on our side
(the SDK still parses the whole history, as it does under the real host).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as EventType

__all__ = ["EventType", "HistoryLog", "format_timestamp", "make_event", "parse_timestamp"]

_PLAYED_FALSE = '"IsPlayed": false'
_PLAYED_TRUE = '"IsPlayed": true'


def format_timestamp(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``, as the SDK formats datetimes."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Parse the timestamps we (and the SDK) write; naive values are UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def make_event(event_type: EventType, timestamp: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """One history event; key order puts ``IsPlayed`` before any payload (see HistoryLog)."""
    event: dict[str, Any] = {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(timestamp),
    }
    event.update(fields)
    return event


class HistoryLog:
    """Append-only history of one orchestration execution, kept as JSON text.

    Each event is stored as its JSON fragment with ``IsPlayed: true``, so a
    replay only serialises the events of the current episode, and a long
    history costs the garbage collector nothing (strings are not tracked;
    thousands of dicts per instance would make every full collection slower
    as finished instances pile up).  ``events`` decodes on demand.
    """

    __slots__ = ("_played", "_sealed", "_count")

    def __init__(self) -> None:
        self._played: list[str] = []
        self._sealed: str | None = None
        self._count = 0

    @classmethod
    def from_events(cls, events: list[dict[str, Any]]) -> HistoryLog:
        """A log holding ``events`` (read back from storage) as played history."""
        log = cls()
        log.commit(events)
        return log

    def __len__(self) -> int:
        return self._count if self._sealed is not None else len(self._played)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The recorded events as dicts (decoded on each call)."""
        text = self._sealed if self._sealed is not None else "[" + ",".join(self._played) + "]"
        return list(json.loads(text))

    def context_history_json(self, new_events: list[dict[str, Any]]) -> tuple[str, list[str]]:
        """JSON array text of the played history followed by ``new_events`` (not played).

        Returns the text and the new events' fragments so :meth:`commit` can
        reuse them.
        """
        fresh = [json.dumps(e) for e in new_events]
        return "[" + ",".join(self._played + fresh) + "]", fresh

    def commit(self, events: list[dict[str, Any]], fragments: list[str] | None = None) -> list[str]:
        """Append events that have now been played (an episode finished); returns their played JSON
        fragments (what the dev host's store writes for the episode)."""
        if self._sealed is not None:
            raise RuntimeError("history is sealed: the execution has finished")
        if fragments is None:
            fragments = [json.dumps(e) for e in events]
        # IsPlayed is the third key, before any user payload, so the first occurrence is always ours.
        played = [frag.replace(_PLAYED_FALSE, _PLAYED_TRUE, 1) for frag in fragments]
        self._played.extend(played)
        return played

    def seal(self) -> None:
        """The execution is over: keep one string, drop the per-event fragments."""
        if self._sealed is None:
            self._sealed = "[" + ",".join(self._played) + "]"
            self._count = len(self._played)
            self._played = []
