"""The dev host's orchestration state in the storage account, so a restarted host resumes its runs.

Durable Functions' Azure Storage provider keeps each orchestration's history
in Table storage under a task hub; a host that dies leaves it there and the
next host replays it. This store does the same for the dev host's engine, in
one table per task hub, ``<hub>DevOrchestrations`` (not the provider's own
``<hub>Instances``/``<hub>History``: a real host on the same account must
never read rows it did not write). One partition per instance:

- ``state``: name, runtime status, input, output, custom status, parent,
  ``owner`` (the host id of the engine that runs it) and the episode counter;
  written when the instance starts (Pending), ends, or continues as new (a
  Pending instance with history is Running: episodes do not rewrite it);
- ``h<episode>``: the history events one replay episode added (its new events,
  what it scheduled, its OrchestratorCompleted), with the ids of the raised
  events it consumed and the custom status it left. One write per episode
  (its activities start meanwhile; its timers and sub-orchestrations after
  it): the episode row alone, or, when the instance
  ends or continues as new, with the state row in one entity-group transaction;
- ``e<time>``: an external event raised and not yet played.

Payloads larger than a table property goes to the ``<hub>-devhost-payloads``
container, as the provider's large-message blobs do.

Ownership: a host claims the instances of a dead owner with an ETag-guarded
write of ``owner``, so two hosts never resume one instance.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from ..storage import Account, AccountFactory
from .history import format_timestamp, parse_timestamp
from .models import InstanceExistsError

STATE_ROW = "state"
EPISODE_PREFIX = "h"
EVENT_PREFIX = "e"
UNFINISHED = ("Pending", "Running")
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
_CHUNK = 30_000  # characters per string property (JSON text is ASCII; the limit is 32K UTF-16 units)
_INLINE = 64_000  # larger payloads go to a blob (an entity holds at most 1 MiB)


_SUFFIX = "DevOrchestrations"


def table_name(task_hub: str) -> str:
    hub = re.sub(r"[^A-Za-z0-9]", "", task_hub) or "TestHubName"
    if not hub[0].isalpha():
        hub = "hub" + hub
    return hub[:45] + _SUFFIX


def container_name(task_hub: str) -> str:
    hub = re.sub(r"[^a-z0-9]", "", task_hub.lower()) or "testhubname"
    return f"{hub[:40]}-devhost-payloads"


def _key(instance_id: str) -> str:
    """A PartitionKey for any instance id: the characters Table keys refuse are escaped."""
    out = []
    for ch in instance_id:
        if ch in "/\\#?%" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class InstanceRecord:
    """What the ``state`` row holds about one instance."""

    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    created: datetime
    last_updated: datetime
    root_id: str = ""
    parent_id: str | None = None
    parent_execution: str = ""
    parent_task_id: int | None = None
    output: Any = None
    custom_status: Any = None
    details: str = ""
    owner: str = ""
    episodes: int = 0
    etag: str | None = field(default=None, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class LoadedInstance:
    """An instance read back: its state, the played history of its current execution, unplayed events."""

    record: InstanceRecord
    history: list[dict[str, Any]]
    events: list[tuple[str, dict[str, Any]]]  # (row key, EventRaised event)


class OrchestrationStore:
    """Instance state and history rows of one task hub; ``owner`` is this engine's host id."""

    def __init__(self, storage: str, task_hub: str, owner: str, *, account: AccountFactory = Account) -> None:
        # A client of its own: azure-data-tables re-links the service client's shared policies whenever it
        # makes a table client, which breaks requests in flight on other threads ("'_SansIOHTTPPolicyRunner'
        # object has no attribute 'next'"); this store makes its one table client on its own service client.
        # ``account`` makes those clients (an app may bring its own, with its retry policy).
        self.account = account(storage)
        self.task_hub = task_hub
        self.owner = owner
        self._table_name = table_name(task_hub)
        self._container_name = container_name(task_hub)
        self._seq = 0

    @property
    def table(self) -> TableClient:
        return self.account.table(self._table_name)

    # ---------------------------------------------------------------- payloads

    def _pack(self, name: str, text: str | None, partition: str) -> dict[str, Any]:
        """``text`` as string properties ``name_0..`` (or one blob when large); every key is always set,
        so a MERGE never leaves a stale part behind."""
        if text is None:
            return {f"{name}_parts": 0, f"{name}_blob": ""}
        if len(text) > _INLINE:
            blob = f"{partition}/{name}-{uuid.uuid4().hex}.json"
            self.account.container(self._container_name).upload_blob(blob, text.encode(), overwrite=True)
            return {f"{name}_parts": 0, f"{name}_blob": blob}
        parts = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
        packed: dict[str, Any] = {f"{name}_parts": len(parts), f"{name}_blob": ""}
        for index, part in enumerate(parts):
            packed[f"{name}_{index}"] = part
        return packed

    def _unpack(self, entity: Any, name: str) -> str | None:
        blob = entity.get(f"{name}_blob") or ""
        if blob:
            data: bytes = self.account.container(self._container_name).download_blob(blob).readall()
            return data.decode()
        parts = int(entity.get(f"{name}_parts") or 0)
        if parts <= 0:
            return None
        return "".join(entity.get(f"{name}_{i}") or "" for i in range(parts))

    # ---------------------------------------------------------------- state rows

    def _state_entity(self, record: InstanceRecord) -> dict[str, Any]:
        pk = _key(record.instance_id)
        entity: dict[str, Any] = {
            "PartitionKey": pk, "RowKey": STATE_ROW, "instance_id": record.instance_id, "name": record.name,
            "execution_id": record.execution_id, "status": record.status,
            "created": format_timestamp(record.created), "last_updated": format_timestamp(record.last_updated),
            "root_id": record.root_id or record.instance_id, "parent_id": record.parent_id or "",
            "parent_execution": record.parent_execution,
            "parent_task_id": -1 if record.parent_task_id is None else record.parent_task_id,
            "details": record.details[:_CHUNK], "owner": record.owner or self.owner, "episodes": record.episodes,
        }
        entity.update(self._pack("input", record.input, pk))
        entity.update(self._pack("output", json.dumps(record.output), pk))
        entity.update(self._pack("custom", json.dumps(record.custom_status), pk))
        return entity

    def _record(self, entity: Any) -> InstanceRecord:
        task = int(entity.get("parent_task_id", -1))
        output = self._unpack(entity, "output")
        custom = self._unpack(entity, "custom")
        return InstanceRecord(
            instance_id=entity.get("instance_id", ""), name=entity.get("name", ""),
            execution_id=entity.get("execution_id", ""), status=entity.get("status", ""),
            input=self._unpack(entity, "input"), created=parse_timestamp(entity.get("created")),
            last_updated=parse_timestamp(entity.get("last_updated")), root_id=entity.get("root_id", ""),
            parent_id=entity.get("parent_id") or None, parent_execution=entity.get("parent_execution", ""),
            parent_task_id=None if task < 0 else task,
            output=None if output is None else json.loads(output),
            custom_status=None if custom is None else json.loads(custom), details=entity.get("details", ""),
            owner=entity.get("owner", ""), episodes=int(entity.get("episodes", 0)),
            etag=(getattr(entity, "metadata", None) or {}).get("etag"))

    def create(self, record: InstanceRecord) -> None:
        """Store a new instance; a finished one with the same id is replaced (as Durable allows), a live one
        raises :class:`InstanceExistsError`."""
        for _ in range(5):
            try:
                self.table.create_entity(self._state_entity(record))
                return
            except ResourceExistsError:
                pass
            existing = self.get(record.instance_id)
            if existing is None:
                continue
            if not existing.is_terminal:
                raise InstanceExistsError(
                    f"An orchestration instance with ID '{record.instance_id}' already exists and is "
                    f"{existing.status} (owned by {existing.owner}); pick another instance ID or terminate it first")
            record.episodes = max(record.episodes, existing.episodes)  # history row keys stay unique
            try:
                self.table.update_entity(self._state_entity(record), mode=UpdateMode.REPLACE, etag=existing.etag,
                                         match_condition=MatchConditions.IfNotModified)
                return
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        raise InstanceExistsError(f"orchestration instance '{record.instance_id}' kept changing; try again")

    def save_state(self, record: InstanceRecord) -> None:
        self.table.upsert_entity(self._state_entity(record), mode=UpdateMode.MERGE)

    def get(self, instance_id: str) -> InstanceRecord | None:
        """The state row; a Pending instance that has replayed reads as Running (episodes do not rewrite the
        state row, so the status it holds is Pending until the instance ends)."""
        try:
            record = self._record(self.table.get_entity(_key(instance_id), STATE_ROW))
        except ResourceNotFoundError:
            return None
        if record.status == "Pending" and self._has_history(record):
            record.status = "Running"
        return record

    def _has_history(self, record: InstanceRecord) -> bool:
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and execution_id eq @ex",
            parameters={"pk": _key(record.instance_id), "lo": EPISODE_PREFIX, "hi": chr(ord(EPISODE_PREFIX) + 1),
                        "ex": record.execution_id}, select=["RowKey"], results_per_page=1)
        return next(iter(rows), None) is not None

    def commit(self, record: InstanceRecord, episode: int, fragments: list[str],
               played_events: Iterable[str] = (), execution_id: str | None = None,
               state_changed: bool = True) -> None:
        """One replay episode, in one write: its history events, with the custom status and time it left.

        ``state_changed`` (the instance ended, or continued as new) writes the ``state`` row in the same
        transaction; otherwise the episode row alone is inserted (a single insert costs Azurite well under
        half a two-entity transaction). ``execution_id`` is the execution the events belong to (not the
        record's after a continue-as-new).
        """
        pk = _key(record.instance_id)
        row: dict[str, Any] = {"PartitionKey": pk, "RowKey": f"{EPISODE_PREFIX}{episode:010d}",
                               "execution_id": execution_id or record.execution_id,
                               "played": ",".join(played_events),
                               "last_updated": format_timestamp(record.last_updated)}
        row.update(self._pack("events", "[" + ",".join(fragments) + "]", pk))
        row.update(self._pack("custom", json.dumps(record.custom_status), pk))
        if state_changed:
            self.table.submit_transaction([
                ("upsert", self._state_entity(record), {"mode": UpdateMode.MERGE}),
                ("upsert", row, {"mode": UpdateMode.REPLACE}),
            ])
            return
        try:
            self.table.create_entity(row)
        except ResourceExistsError:  # a retry of a write that had landed
            self.table.upsert_entity(row, mode=UpdateMode.REPLACE)

    def add_event(self, instance_id: str, execution_id: str, event: dict[str, Any]) -> str:
        """Keep a raised event until an episode plays it; returns its row key."""
        self._seq += 1
        key = f"{EVENT_PREFIX}{time.time_ns():020d}-{self._seq:06d}-{uuid.uuid4().hex[:6]}"
        pk = _key(instance_id)
        row: dict[str, Any] = {"PartitionKey": pk, "RowKey": key, "execution_id": execution_id}
        row.update(self._pack("event", json.dumps(event), pk))
        self.table.create_entity(row)
        return key

    def delete(self, instance_id: str) -> None:
        """Forget an instance (purge): every row of its partition."""
        pk = _key(instance_id)
        keys = [e["RowKey"] for e in self.table.query_entities("PartitionKey eq @pk", parameters={"pk": pk},
                                                               select=["RowKey"])]
        for start in range(0, len(keys), 100):
            try:
                self.table.submit_transaction([("delete", {"PartitionKey": pk, "RowKey": k})
                                               for k in keys[start:start + 100]])
            except HttpResponseError:  # raced with another delete: one at a time, missing ones ignored
                for k in keys[start:start + 100]:
                    try:
                        self.table.delete_entity(pk, k)
                    except ResourceNotFoundError:
                        pass

    # ---------------------------------------------------------------- recovery

    def unfinished(self) -> list[InstanceRecord]:
        """State rows of every Pending or Running instance of the hub (any owner), with their ETags."""
        query = "RowKey eq 'state' and (" + " or ".join(f"status eq '{s}'" for s in UNFINISHED) + ")"
        return [self._record(e) for e in self.table.query_entities(query)]

    def claim(self, record: InstanceRecord) -> bool:
        """Become the owner of ``record`` if nobody changed it since it was read (ETag); False if lost."""
        entity = {"PartitionKey": _key(record.instance_id), "RowKey": STATE_ROW, "owner": self.owner}
        try:
            meta = self.table.update_entity(entity, mode=UpdateMode.MERGE, etag=record.etag,
                                            match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except HttpResponseError as exc:
            if exc.status_code in (404, 409, 412):
                return False
            raise
        record.owner = self.owner
        record.etag = meta.get("etag")
        return True

    def load(self, instance_id: str) -> LoadedInstance | None:
        """The instance's state, the history of its current execution and its unplayed events."""
        pk = _key(instance_id)
        state: Any = None
        episodes: list[Any] = []
        raised: list[Any] = []
        for entity in self.table.query_entities("PartitionKey eq @pk", parameters={"pk": pk}):
            key = entity["RowKey"]
            if key == STATE_ROW:
                state = entity
            elif key.startswith(EPISODE_PREFIX):
                episodes.append(entity)
            elif key.startswith(EVENT_PREFIX):
                raised.append(entity)
        if state is None:
            return None
        record = self._record(state)
        if record.status == "Pending" and any(e.get("execution_id") == record.execution_id for e in episodes):
            record.status = "Running"
        history: list[dict[str, Any]] = []
        played: set[str] = set()
        for entity in sorted(episodes, key=lambda e: e["RowKey"]):
            if entity.get("execution_id") != record.execution_id:
                continue
            history.extend(json.loads(self._unpack(entity, "events") or "[]"))
            played.update(k for k in (entity.get("played") or "").split(",") if k)
            custom = self._unpack(entity, "custom")  # the state row is not rewritten by every episode
            if custom is not None:
                record.custom_status = json.loads(custom)
            if entity.get("last_updated"):
                record.last_updated = parse_timestamp(entity["last_updated"])
        events = []
        for entity in sorted(raised, key=lambda e: e["RowKey"]):
            if entity["RowKey"] in played or entity.get("execution_id") != record.execution_id:
                continue
            events.append((entity["RowKey"], json.loads(self._unpack(entity, "event") or "{}")))
        return LoadedInstance(record, history, events)

    def forget_events(self, instance_id: str, keys: Iterable[str]) -> None:
        """Best-effort clean-up of raised-event rows an episode has recorded as played."""
        pk = _key(instance_id)
        for key in keys:
            try:
                self.table.delete_entity(pk, key)
            except (ResourceNotFoundError, HttpResponseError):
                pass


class OtherHubs:
    """The dev-host state of every task hub of an account, to ask whether a run belongs to another hub.

    For one thread at a time (the sweep): it has its own service client, since making table clients on a
    shared one breaks requests in flight elsewhere (see :class:`OrchestrationStore`).
    """

    def __init__(self, storage: str, except_hub: str | None = None, *, account: AccountFactory = Account) -> None:
        self.account = account(storage)
        self.skip = table_name(except_hub) if except_hub else None
        self._tables: list[str] | None = None

    def holding(self, instance_id: str) -> list[str]:
        """Task hubs (other than ``except_hub``) whose state holds an unfinished ``instance_id``: a run
        started by a host on another hub is that hub's to resume, not ours to end."""
        if self._tables is None:
            self._tables = [t.name for t in self.account.tables.list_tables()
                            if t.name.endswith(_SUFFIX) and t.name != self.skip]
        found = []
        for name in self._tables:
            try:
                entity = self.account.tables.get_table_client(name).get_entity(_key(instance_id), STATE_ROW)
            except ResourceNotFoundError:
                continue
            if entity.get("status") in UNFINISHED:
                found.append(name[:-len(_SUFFIX)])
        return found


def families(records: Iterable[InstanceRecord]) -> Iterator[tuple[str, list[InstanceRecord]]]:
    """Group unfinished instances by the root orchestration that started them (children resume with it)."""
    groups: dict[str, list[InstanceRecord]] = {}
    for record in records:
        groups.setdefault(record.root_id or record.instance_id, []).append(record)
    yield from groups.items()

