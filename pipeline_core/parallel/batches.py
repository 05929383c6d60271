"""The ``minibatches`` table: one row per mini-batch (PartitionKey ``{run_id}|{step}``, RowKey the index).

Why a table: it is the step's ledger. A redelivered slice finds which of its
mini-batches are recorded and runs only the others; ``prs_finish`` counts
failures from it rather than trusting what the orchestrator carried; and a
person can see which files a failed mini-batch held and the first error with
its traceback.

Rows are written once, when a mini-batch has its result, by ``record``: the
rows a slice finished since its last flush go in one transaction of
``create`` operations (one partition, at most 100 operations and about 2 MB).
Create-only is what makes redeliveries safe: if another delivery of the same
slice recorded one of those mini-batches first, the whole transaction fails,
nothing is written, and the caller learns which rows stand and records only
the rest. So a mini-batch never has two different results; the first wins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient

from pipeline_core.storage.account import StorageAccount

MINIBATCHES_TABLE = "minibatches"
SUCCEEDED, FAILED = "succeeded", "failed"
TEXT_LIMIT = 30_000  # a Table string property holds 32K UTF-16 characters
TRANSACTION_OPS = 100  # Table storage's limit of operations per transaction
TRANSACTION_CHARS = 1_000_000  # ~2 MB of UTF-16 text: well inside the 4 MB transaction payload limit
RESULT_FIELDS = ["index", "status", "items", "succeeded_items", "failed_items", "tries", "error", "rows_block",
                 "rows_parts"]


def partition(run_id: str, step: str) -> str:
    return f"{run_id}|{step}"


def row_key(index: int) -> str:
    return f"{index:08d}"


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 + 10:]


def result_of(row: dict[str, Any]) -> dict[str, Any]:
    """The per-mini-batch result a recorded row stands for."""
    return {"index": int(row["index"]), "status": row["status"], "items": int(row.get("items") or 0),
            "succeeded_items": int(row.get("succeeded_items") or 0), "failed_items": int(row.get("failed_items") or 0),
            "tries": int(row.get("tries") or 0),
            "error": (row.get("error") or None) if row["status"] == FAILED else None}


def _size(entity: dict[str, Any]) -> int:
    return sum(len(v) if isinstance(v, str) else 16 for v in entity.values())


def transaction_groups(entities: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive groups that each fit one transaction (by count and by payload size)."""
    groups: list[list[dict[str, Any]]] = []
    size = 0
    for entity in entities:
        weight = _size(entity)
        if not groups or len(groups[-1]) >= TRANSACTION_OPS or size + weight > TRANSACTION_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(entity)
        size += weight
    return groups


class BatchStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(MINIBATCHES_TABLE)

    def entity(self, run_id: str, step: str, index: int, fields: dict[str, Any]) -> dict[str, Any]:
        """The row for ``fields`` (empty strings dropped: absent reads back as empty)."""
        row = {"PartitionKey": partition(run_id, step), "RowKey": row_key(index), "index": index}
        row.update((k, v) for k, v in fields.items() if v is not None and v != "")
        return row

    def get(self, run_id: str, step: str, index: int) -> dict[str, Any] | None:
        try:
            return dict(self.table.get_entity(partition(run_id, step), row_key(index)))
        except ResourceNotFoundError:
            return None

    def recorded(self, run_id: str, step: str, start: int, end: int) -> dict[int, dict[str, Any]]:
        """The rows of mini-batches ``[start, end)`` already recorded, by index (result fields only)."""
        found = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", select=RESULT_FIELDS,
            parameters={"pk": partition(run_id, step), "lo": row_key(start), "hi": row_key(end)})
        return {int(r["index"]): dict(r) for r in found if r.get("status") in (SUCCEEDED, FAILED)}

    def record(self, entities: list[dict[str, Any]]) -> bool:
        """Create ``entities`` (one partition, one transaction); False if any of them already exists."""
        if not entities:
            return True
        raw = _raw_batches.get(self.account.storage)
        if raw is None:
            raw = _raw_batches[self.account.storage] = RawBatch(self.table)
        found = raw.create(entities)
        if found is not None:
            return found
        try:
            if len(entities) == 1:
                self.table.create_entity(entities[0])
            else:
                self.table.submit_transaction([("create", e) for e in entities])
            return True
        except ResourceExistsError:
            return False
        except HttpResponseError as exc:  # a transaction reports the conflict of one operation as 409
            if exc.status_code == 409:
                return False
            raise

    def rows(self, run_id: str, step: str, select: Iterable[str] | None = None) -> list[dict[str, Any]]:
        found = self.table.query_entities("PartitionKey eq @pk", parameters={"pk": partition(run_id, step)},
                                          select=list(select) if select else None)
        return sorted((dict(r) for r in found), key=lambda r: int(r["index"]))


_raw_batches: dict[str, RawBatch] = {}  # by storage account (connection string or URL)
_STATUS = re.compile(rb"^HTTP/1\.1 (\d{3})", re.MULTILINE)
_INT32 = range(-(2 ** 31), 2 ** 31)


class RawBatch:
    """An entity group transaction of ``create`` operations, sent as a hand-built ``$batch`` request.

    Why: a slice records up to 100 rows at once, and azure-data-tables spends about 0.4 ms of CPU per
    row building and (mostly) parsing the multipart exchange, which is more than a trivial mini-batch
    costs. The request is the documented format (a changeset of ``POST {table}`` parts); the answer
    is read only for its parts' status lines. Authorisation: Shared Key Lite with the account key
    (connection strings, Azurite), or a bearer token (managed identity). ``create`` returns None when
    it cannot help (another credential, a proxy in the environment, a value type it does not encode):
    the caller uses the SDK.
    """

    def __init__(self, table: TableClient):
        self.table = table
        self.endpoint = table.url.split("?", 1)[0].rstrip("/")
        self.usable = not urllib.request.getproxies()
        self._token: tuple[str, float] | None = None

    def _auth(self) -> dict[str, str] | None:
        credential = self.table.credential
        if isinstance(credential, AzureNamedKeyCredential):
            date = formatdate(usegmt=True)
            resource = f"/{credential.named_key.name}{urlsplit(self.endpoint).path}/$batch"
            signature = hmac.new(base64.b64decode(credential.named_key.key), f"{date}\n{resource}".encode(),
                                 hashlib.sha256).digest()
            return {"x-ms-date": date,
                    "Authorization": f"SharedKeyLite {credential.named_key.name}:{base64.b64encode(signature).decode()}"}
        if hasattr(credential, "get_token"):
            if self._token is None or self._token[1] < time.time() + 300:
                token = credential.get_token("https://storage.azure.com/.default")
                self._token = (token.token, float(token.expires_on))
            return {"x-ms-date": formatdate(usegmt=True), "Authorization": f"Bearer {self._token[0]}"}
        return None

    @staticmethod
    def _json(entity: dict[str, Any]) -> str | None:
        found: dict[str, Any] = {}
        for key, value in entity.items():
            if isinstance(value, bool) or isinstance(value, str) or (isinstance(value, int) and value in _INT32):
                found[key] = value
            elif isinstance(value, int):
                found[key], found[f"{key}@odata.type"] = str(value), "Edm.Int64"
            elif isinstance(value, float):
                found[key], found[f"{key}@odata.type"] = value, "Edm.Double"
            else:
                return None
        return json.dumps(found)

    def create(self, entities: list[dict[str, Any]]) -> bool | None:
        """True when created, False when one already existed (nothing was written), None: use the SDK."""
        if not self.usable:
            return None
        bodies = [self._json(e) for e in entities]
        headers = self._auth()
        if headers is None or any(b is None for b in bodies):
            return None
        batch, changeset = uuid.uuid4().hex, uuid.uuid4().hex
        target = f"{self.endpoint}/{self.table.table_name}"
        parts = [f"--batch_{batch}\r\nContent-Type: multipart/mixed; boundary=changeset_{changeset}\r\n\r\n"]
        parts += [f"--changeset_{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
                  f"\r\n\r\nPOST {target} HTTP/1.1\r\nContent-Type: application/json\r\n"
                  "Accept: application/json;odata=minimalmetadata\r\nPrefer: return-no-content\r\n"
                  f"DataServiceVersion: 3.0\r\n\r\n{body}\r\n" for body in bodies]
        parts.append(f"--changeset_{changeset}--\r\n--batch_{batch}--\r\n")
        headers.update({"Content-Type": f"multipart/mixed; boundary=batch_{batch}", "x-ms-version": "2019-02-02",
                        "DataServiceVersion": "3.0", "MaxDataServiceVersion": "3.0;NetFx",
                        "Accept": "application/json;odata=minimalmetadata"})
        from pipeline_core.parallel.fetch import http_pool

        response = http_pool().request("POST", f"{self.endpoint}/$batch", body="".join(parts).encode(),
                                       headers=headers)
        statuses = [int(code) for code in _STATUS.findall(response.data)] if response.status == 202 else []
        if statuses and all(200 <= code < 300 for code in statuses):
            return True
        if 409 in statuses:
            return False
        raise HttpResponseError(f"recording {len(entities)} mini-batch rows answered {response.status}: "
                                f"{response.data[:2000].decode('utf-8', errors='replace')}")


def inputs_of(row: dict[str, Any]) -> list[str]:
    try:
        return list(json.loads(row.get("inputs") or "[]"))
    except json.JSONDecodeError:  # clipped: a very large mini-batch
        return []
