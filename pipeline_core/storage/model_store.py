"""The model registry: the ``models`` table (one row per version) and the ``models`` blob container.

Row: PartitionKey the model name, RowKey the version zero-padded (so a
partition lists oldest to newest). Files: ``{name}/{uid}/{root}`` where
``root`` is the registered file's or folder's own name and ``uid`` is new for
every registration. Files are uploaded under their uid first and the version
row is created after, so a reader never sees a version whose files are not
all there; concurrent registrations of one name race on creating the next
RowKey and the loser takes the one after.

``local_copy`` downloads a version once per machine into the amlite cache
(``{cache}/models/{account}/{uid}``, atomically renamed into place, files made
read-only), which is what ``Model.get_model_path`` answers inside a step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import ContainerClient

from pipeline_core.errors import AmliteError, ConcurrencyError
from pipeline_core.exceptions import ModelNotFoundException, ModelPathNotFoundException
from pipeline_core.execution.snapshot import cache_root
from pipeline_core.runcontext.names import check_artifact_name, check_model_name, check_tag, local_path
from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.run_store import utcnow

MODELS_TABLE = "models"
MODELS_CONTAINER = "models"
_JSON = ("tags", "properties", "datasets")
_cache_locks: dict[str, threading.Lock] = {}
_cache_locks_guard = threading.Lock()


@dataclass
class ModelRecord:
    """One registered version, as stored (``root``: the file or folder name the model was registered from)."""

    name: str
    version: int
    uid: str
    root: str
    is_file: bool
    created_time: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    experiment_name: str = ""
    framework: str = ""
    framework_version: str = ""
    datasets: list[Any] = field(default_factory=list)
    file_count: int = 0
    size: int = 0
    etag: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelRecord:
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        return cls(**known)

    @classmethod
    def from_entity(cls, entity: Any) -> ModelRecord:
        row = dict(entity)
        for key in _JSON:
            row[key] = json.loads(row[key]) if isinstance(row.get(key), str) and row[key] else \
                ([] if key == "datasets" else {})
        row["version"] = int(row["RowKey"])
        row["etag"] = entity.metadata.get("etag", "") if hasattr(entity, "metadata") else ""
        return cls.from_dict(row)

    def entity(self) -> dict[str, Any]:
        values = self.to_dict()
        values.pop("etag")
        values.pop("version")
        for key in _JSON:
            values[key] = json.dumps(values[key], sort_keys=True)
        return {"PartitionKey": self.name, "RowKey": f"{self.version:010d}", **values}


def registration_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The AML keyword arguments of a registration that its record keeps (tags and properties checked)."""
    datasets = fields.get("datasets") or []
    for key in ("tags", "properties"):
        if not isinstance(fields.get(key) or {}, dict):
            raise AmliteError(f"{key} must be a dict of name -> value, not {type(fields[key]).__name__}")
    if not isinstance(datasets, list):
        raise AmliteError(f"datasets must be a list, not {type(datasets).__name__}")
    return {"tags": dict(check_tag(k, v) for k, v in (fields.get("tags") or {}).items()),
            "properties": dict(check_tag(k, v, "property") for k, v in (fields.get("properties") or {}).items()),
            "description": str(fields.get("description") or ""),
            "framework": str(fields.get("model_framework") or ""),
            "framework_version": str(fields.get("model_framework_version") or ""),
            "datasets": [[str(part) for part in d] if isinstance(d, (list, tuple)) else str(d) for d in datasets]}


def _matches(found: dict[str, str], wanted: Any) -> bool:
    """AML's filters: a list of names (present) or of [name, value] pairs, or a dict of name -> value."""
    if not wanted:
        return True
    if isinstance(wanted, dict):
        return all(found.get(k) == str(v) for k, v in wanted.items())
    for item in wanted:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            if found.get(str(item[0])) != str(item[1]):
                return False
        elif str(item) not in found:
            return False
    return True


class ModelStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def table(self) -> TableClient:
        return self.account.table(MODELS_TABLE)

    @property
    def container(self) -> ContainerClient:
        return self.account.container(MODELS_CONTAINER)

    # -- files ---------------------------------------------------------------------
    @staticmethod
    def new_uid() -> str:
        return uuid.uuid4().hex

    @staticmethod
    def file_prefix(name: str, uid: str) -> str:
        return f"{check_model_name(name)}/{uid}/"

    def put_file(self, name: str, uid: str, relative: str, data: Any, length: int | None = None) -> None:
        """One file of a registration (``relative`` starts with the root: ``model.pkl`` or ``folder/a/b``);
        ``data``: bytes, a readable, or an iterable of chunks (what ``upload_blob`` takes)."""
        blob = self.file_prefix(name, uid) + check_artifact_name(relative, "model file name")
        self.container.upload_blob(blob, data, length=length, overwrite=True)

    def upload_local(self, name: str, uid: str, path: Path, child_paths: list[str] | None = None) -> tuple[str, bool]:
        """Upload a local file or folder (only ``child_paths`` of it, if given); returns (root, is_file)."""
        if not path.exists():
            raise ModelPathNotFoundException(f"model_path {str(path)!r} does not exist; give the model file or "
                                             "folder to register")
        root = path.resolve().name
        if path.is_file():
            with open(path, "rb") as handle:
                self.put_file(name, uid, root, handle)
            return root, True
        files = [path / c for c in child_paths] if child_paths else [p for p in path.rglob("*") if p.is_file()]
        if not files:
            raise ModelPathNotFoundException(f"model_path {str(path)!r} is an empty folder; nothing to register")
        for file in files:
            if not file.is_file():
                raise ModelPathNotFoundException(f"child path {str(file)!r} of model_path {str(path)!r} is not a file")
            with open(file, "rb") as handle:
                self.put_file(name, uid, f"{root}/{file.relative_to(path).as_posix()}", handle)
        return root, False

    def file_names(self, record: ModelRecord) -> list[str]:
        """The version's files relative to its folder in the store (each starts with ``record.root``)."""
        prefix = self.file_prefix(record.name, record.uid)
        return sorted(b.name[len(prefix):] for b in self.container.list_blobs(name_starts_with=prefix))

    def stats(self, name: str, uid: str) -> tuple[int, int]:
        blobs = list(self.container.list_blobs(name_starts_with=self.file_prefix(name, uid)))
        return len(blobs), sum(int(b.size or 0) for b in blobs)

    def _chunks(self, record: ModelRecord, relative: str) -> Iterator[bytes]:
        return self.container.download_blob(self.file_prefix(record.name, record.uid) + relative).chunks()

    def download(self, record: ModelRecord, target_dir: Path, exist_ok: bool = False) -> Path:
        """Copy the version's files into ``target_dir``; returns the model's path there (the file, or its folder)."""
        target_dir.mkdir(parents=True, exist_ok=True)
        destination = local_path(target_dir, record.root, "model file name")
        if destination.exists() and not exist_ok:
            raise AmliteError(f"{destination} already exists; remove it or pass exist_ok=True")
        for relative in self.file_names(record):
            path = local_path(target_dir, relative, "model file name")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                for chunk in self._chunks(record, relative):
                    handle.write(chunk)
        return destination

    def local_copy(self, record: ModelRecord) -> Path:
        """The version's files in this machine's cache (downloaded the first time); the file or folder path."""
        account = hashlib.sha256(self.account.storage.encode()).hexdigest()[:16]
        folder = cache_root() / "models" / account / record.uid
        with _cache_locks_guard:
            lock = _cache_locks.setdefault(str(folder), threading.Lock())
        with lock:
            if not folder.is_dir():
                folder.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{record.uid[:12]}-", dir=folder.parent))
                try:
                    self.download(record, staging, exist_ok=True)
                    _read_only(staging)
                    os.rename(staging, folder)
                except BaseException:
                    _make_writable(staging)
                    shutil.rmtree(staging, ignore_errors=True)
                    if not folder.is_dir():
                        raise
        return folder / record.root

    # -- versions ------------------------------------------------------------------
    def create_version(self, record: ModelRecord) -> ModelRecord:
        """Add ``record`` as the next version of its name (its files must be uploaded already)."""
        check_model_name(record.name)
        record.file_count, record.size = self.stats(record.name, record.uid)
        if record.file_count == 0:
            raise ModelPathNotFoundException(f"model {record.name!r}: no files were uploaded; nothing to register")
        record.created_time = utcnow()
        for _ in range(50):
            latest = self.latest(record.name)
            record.version = (latest.version if latest else 0) + 1
            try:
                self.table.create_entity(record.entity())
                return self.get(record.name, record.version)
            except ResourceExistsError:
                continue
        raise ConcurrencyError(f"model {record.name!r}: too many concurrent registrations; try again")

    def versions(self, name: str) -> list[ModelRecord]:
        rows = self.table.query_entities("PartitionKey eq @pk", parameters={"pk": name})
        return [ModelRecord.from_entity(e) for e in rows]

    def latest(self, name: str) -> ModelRecord | None:
        found = self.versions(name)
        return found[-1] if found else None

    def get(self, name: str, version: int | None = None) -> ModelRecord:
        if version is None:
            latest = self.latest(name)
            if latest is None:
                raise ModelNotFoundException(f"no model named {name!r} is registered; register it with "
                                             "Model.register(...) or run.register_model(...)")
            return latest
        try:
            return ModelRecord.from_entity(self.table.get_entity(name, f"{int(version):010d}"))
        except ResourceNotFoundError:
            have = ", ".join(str(r.version) for r in self.versions(name)) or "none"
            raise ModelNotFoundException(f"model {name!r} has no version {version}; its versions: {have}") from None

    def find(self, name: str | None = None, tags: Any = None, properties: Any = None, latest: bool = False,
             run_id: str | None = None) -> list[ModelRecord]:
        """AML's ``Model.list`` filters; newest first within a name, names in order."""
        if name:
            rows = self.table.query_entities("PartitionKey eq @pk", parameters={"pk": name})
        else:
            rows = self.table.list_entities()
        records = [ModelRecord.from_entity(e) for e in rows]
        records = [r for r in records if _matches(r.tags, tags) and _matches(r.properties, properties)
                   and (not run_id or r.run_id == run_id)]
        records.sort(key=lambda r: (r.name, -r.version))
        if latest:
            seen: set[str] = set()
            records = [r for r in records if not (r.name in seen or seen.add(r.name))]  # type: ignore[func-returns-value]
        return records

    def update(self, name: str, version: int, add_tags: dict[str, Any] | None = None,
               remove_tags: list[str] | None = None, add_properties: dict[str, Any] | None = None,
               description: str | None = None) -> ModelRecord:
        """Change a version's tags (and add properties, write-once), guarded by the row's ETag."""
        for _ in range(20):
            record = self.get(name, version)
            tags = dict(record.tags)
            tags.update(dict(check_tag(k, v) for k, v in (add_tags or {}).items()))
            for key in remove_tags or []:
                tags.pop(str(key), None)
            properties = dict(record.properties)
            for key, value in (check_tag(k, v, "property") for k, v in (add_properties or {}).items()):
                if key in properties and properties[key] != value:
                    raise AmliteError(f"model {record.id}: property {key!r} is already {properties[key]!r}; "
                                      "properties cannot be changed once added")
                properties[key] = value
            record.tags, record.properties = tags, properties
            if description is not None:
                record.description = description
            try:
                self.table.update_entity(record.entity(), mode=UpdateMode.REPLACE, etag=record.etag,
                                         match_condition=MatchConditions.IfNotModified)
                return self.get(name, version)
            except ResourceModifiedError:
                continue
        raise ConcurrencyError(f"model {name}:{version} kept changing while it was updated; try again")

    def delete(self, record: ModelRecord) -> None:
        """Remove the version row first (readers stop seeing it), then its files."""
        try:
            self.table.delete_entity(record.name, f"{record.version:010d}")
        except ResourceNotFoundError:
            pass
        prefix = self.file_prefix(record.name, record.uid)
        for blob in list(self.container.list_blobs(name_starts_with=prefix)):
            try:
                self.container.delete_blob(blob.name)
            except ResourceNotFoundError:
                pass


def _read_only(folder: Path) -> None:
    """Cached model files are shared by every step on the machine: make accidental writes fail.

    Files only: folders stay writable so the cache can still be cleared with ``rm -r``.
    """
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _make_writable(folder: Path) -> None:
    for path in folder.rglob("*"):
        try:
            path.chmod(stat.S_IRWXU)
        except OSError:
            pass
