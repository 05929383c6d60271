"""Tags and properties set from inside a run (``run.tag``, ``run.add_properties``): the ``runtags`` table.

One row per (run, step, kind, name): PartitionKey the pipeline run id, RowKey
``{step}|t|{name}`` for a tag and ``{step}|p|{name}`` for a property (the run's
own have an empty step). A row per name, not one JSON row per run, so
concurrent writers (the workers of a ParallelRunStep) never lose each other's
tags. Properties are write-once, as in AML: adding one again with another
value is refused.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from pipeline_core.errors import AmliteError
from pipeline_core.runcontext.names import check_tag, key_part
from pipeline_core.storage.account import StorageAccount

RUNTAGS_TABLE = "runtags"
TAG, PROPERTY = "t", "p"


class RunTagStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(RUNTAGS_TABLE)

    def _key(self, step: str, kind: str, name: str) -> str:
        return f"{key_part(step)}|{kind}|{key_part(name)}"

    def set_tags(self, run_id: str, step: str, tags: dict[str, Any]) -> None:
        checked = [check_tag(name, value) for name, value in tags.items()]
        entities = [{"PartitionKey": run_id, "RowKey": self._key(step, TAG, name), "step": step, "kind": TAG,
                     "name": name, "value": value} for name, value in checked]
        for start in range(0, len(entities), 100):
            self.table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE})
                                           for e in entities[start:start + 100]])

    def remove_tags(self, run_id: str, step: str, names: list[str]) -> None:
        for name in names:
            try:
                self.table.delete_entity(run_id, self._key(step, TAG, str(name)))
            except ResourceNotFoundError:
                pass

    def add_properties(self, run_id: str, step: str, properties: dict[str, Any]) -> None:
        for name, value in (check_tag(n, v, "property") for n, v in properties.items()):
            entity = {"PartitionKey": run_id, "RowKey": self._key(step, PROPERTY, name), "step": step,
                      "kind": PROPERTY, "name": name, "value": value}
            try:
                self.table.create_entity(entity)
            except ResourceExistsError:
                found = self.table.get_entity(run_id, entity["RowKey"])
                if found.get("value") != value:
                    raise AmliteError(f"property {name!r} is already {found.get('value')!r}; properties cannot "
                                      "be changed once added (use a tag for a value that changes)") from None

    def read(self, run_id: str, step: str | None = None) -> dict[str, dict[str, dict[str, str]]]:
        """``{step: {"tags": {...}, "properties": {...}}}`` for the run, or for one step ("" = the run itself)."""
        if step is None:
            query, params = "PartitionKey eq @pk", {"pk": run_id}
        else:
            prefix = key_part(step) + "|"
            query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
            params = {"pk": run_id, "lo": prefix, "hi": prefix[:-1] + "}"}
        found: dict[str, dict[str, dict[str, str]]] = {}
        for entity in self.table.query_entities(query, parameters=params):
            kind = "tags" if entity.get("kind") == TAG else "properties"
            found.setdefault(str(entity.get("step") or ""), {"tags": {}, "properties": {}})[kind][
                str(entity["name"])] = str(entity.get("value") or "")
        return found
