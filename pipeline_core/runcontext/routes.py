"""The run context service's routes: what each one checks and which run record call it makes.

Every handler gets a :class:`Call` (the caller's grant, the path's groups, the query) and
answers a JSON-able dict, or an iterator of bytes for a file. A run id in the path must be the
grant's step run or its pipeline run (``Call.run_id``); every name is checked before use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from pipeline_core.engine.services import Services
from pipeline_core.errors import NotFoundError
from pipeline_core.errors import ServiceError as ServiceError
from pipeline_core.runcontext.names import check_artifact_name, check_model_name
from pipeline_core.runcontext.records import RunRecords, step_run_id
from pipeline_core.storage.model_store import ModelRecord, registration_fields

MAX_JSON_BODY = 16 * 1024 * 1024


Refused = ServiceError  # a refusal with its HTTP status, code and message


@dataclass
class Grant:
    """What one step attempt's token allows."""

    services: Services
    run_id: str
    step: str
    uploads: dict[str, tuple[str, str]] = field(default_factory=dict)  # upload id -> (model name, root)
    checked_at: float = 0.0
    parent_step: str | None = None  # read on first need: "" for a step, the step's name for a child run

    @property
    def step_run_id(self) -> str:
        return step_run_id(self.run_id, self.step)

    def parent_step_run_id(self) -> str | None:
        """For a child run (a HyperDrive trial), its step's run id: the trial's ``run.parent``; else None."""
        if self.parent_step is None:
            try:
                row = self.services.runs.get_step(self.run_id, self.step)
            except NotFoundError:
                return None
            self.parent_step = str(row.get("parent_step") or "")
        return step_run_id(self.run_id, self.parent_step) if self.parent_step else None

    @property
    def records(self) -> RunRecords:
        return RunRecords(self.services)


@dataclass
class Call:
    """One request, as the route handlers see it."""

    grant: Grant
    args: tuple[str, ...]
    query: dict[str, str]
    handler: BaseHTTPRequestHandler

    def json(self) -> dict[str, Any]:
        length = _length(self.handler)
        if length > MAX_JSON_BODY:
            raise Refused(413, "BodyTooLarge", f"a JSON body may have at most {MAX_JSON_BODY} bytes")
        try:
            body = json.loads(self.handler.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            raise Refused(400, "InvalidJson", f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Refused(400, "InvalidJson", "the body must be a JSON object")
        return body

    def stream(self) -> tuple[_Body, int]:
        if self.handler.headers.get("Content-Length") is None:
            raise Refused(411, "LengthRequired", "send the file with a Content-Length header")
        length = _length(self.handler)
        return _Body(self.handler.rfile, length), length

    def run_id(self) -> str:
        """The run id in the path, if the token covers it: its own step run, or its pipeline run."""
        wanted = unquote(self.args[0])
        if wanted not in (self.grant.step_run_id, self.grant.run_id) and wanted != self.grant.parent_step_run_id():
            raise Refused(403, "OtherRun", f"this step's token does not cover run {wanted!r}; a step reaches "
                                           "only its own run and its pipeline run (run.parent)")
        return wanted


class _Body:
    """The request body as a file of known length (never reads past it: the connection is kept alive)."""

    def __init__(self, stream: Any, length: int):
        self.stream, self.left = stream, length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(size)
        self.left -= len(data)
        return bytes(data)


def _length(handler: BaseHTTPRequestHandler) -> int:
    try:
        return int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        raise Refused(400, "InvalidHeader", "Content-Length must be a number") from None


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("1", "true", "yes")


# -- route handlers -----------------------------------------------------------------
def _details(call: Call) -> Any:
    return call.grant.records.details(call.run_id())


def _log_metrics(call: Call) -> Any:
    metrics = call.json().get("metrics")
    if not isinstance(metrics, list):
        raise Refused(400, "InvalidField", "'metrics' must be a list")
    return {"written": call.grant.records.log_metrics(call.run_id(), metrics)}


def _get_metrics(call: Call) -> Any:
    return {"metrics": call.grant.records.get_metrics(call.run_id(), recursive=_flag(call.query, "recursive"))}


def _set_tags(call: Call) -> Any:
    body, run_id = call.json(), call.run_id()
    if body.get("tags"):
        call.grant.records.set_tags(run_id, dict(body["tags"]))
    if body.get("remove"):
        call.grant.records.remove_tags(run_id, [str(n) for n in body["remove"]])
    return {"ok": True}


def _get_tags(call: Call) -> Any:
    return call.grant.records.tags_and_properties(call.run_id())


def _add_properties(call: Call) -> Any:
    run_id = call.run_id()
    call.grant.records.add_properties(run_id, dict(call.json().get("properties") or {}))
    return {"ok": True}


def _put_file(call: Call) -> Any:
    run_id = call.run_id()
    name = check_artifact_name(call.query.get("name", ""))
    body, length = call.stream()
    return {"name": call.grant.records.upload(run_id, name, body, length)}


def _list_files(call: Call) -> Any:
    return {"names": call.grant.records.file_names(call.run_id())}


def _get_file(call: Call) -> Any:
    run_id = call.run_id()
    return call.grant.records.artifacts.open(run_id, check_artifact_name(call.query.get("name", "")))


def _register_from_run(call: Call) -> Any:
    body, run_id = call.json(), call.run_id()
    name, path = str(body.pop("model_name", "") or ""), str(body.pop("model_path", "") or "")
    record = call.grant.records.register_model(run_id, name, path, **body)
    return record.to_dict()


def _find_models(call: Call) -> Any:
    q = call.query
    store = call.grant.records.models
    if q.get("version"):
        return {"models": [store.get(q.get("name", ""), int(q["version"])).to_dict()]}
    filters = {k: json.loads(q[k]) for k in ("tags", "properties") if q.get(k)}
    found = store.find(q.get("name") or None, latest=_flag(q, "latest"), run_id=q.get("run_id") or None, **filters)
    return {"models": [r.to_dict() for r in found]}


def _local_model(call: Call) -> Any:
    body = call.json()
    version = body.get("version")
    store = call.grant.records.models
    record = store.get(str(body.get("name") or ""), int(version) if version not in (None, "") else None)
    return {"path": str(store.local_copy(record)), "model": record.to_dict()}


def _start_upload(call: Call) -> Any:
    body = call.json()
    name = check_model_name(body.get("name"))
    root = check_artifact_name(str(body.get("root") or ""), "model root")
    if "/" in root:
        raise Refused(400, "InvalidField", f"model root {root!r} must be one file or folder name")
    upload = call.grant.records.models.new_uid()
    call.grant.uploads[upload] = (name, root)
    return {"upload_id": upload}


def _upload_part(call: Call) -> Any:
    upload = call.grant.uploads.get(call.args[0])
    if upload is None:
        raise Refused(404, "UnknownUpload", "no model upload with that id was started with this token")
    name, root = upload
    path = check_artifact_name(call.query.get("path", ""), "model file name")
    if path != root and not path.startswith(root + "/"):
        raise Refused(400, "InvalidField", f"model file {path!r} is not under the model's root {root!r}")
    body, length = call.stream()
    call.grant.records.models.put_file(name, call.args[0], path, body, length)
    return {"path": path}


def _finish_upload(call: Call) -> Any:
    body = call.json()
    upload = call.grant.uploads.pop(str(body.get("upload_id") or ""), None)
    if upload is None:
        raise Refused(404, "UnknownUpload", "no model upload with that id was started with this token")
    name, root = upload
    store = call.grant.records.models
    uid = str(body["upload_id"])
    files = [b.name.split("/", 2)[2] for b in store.container.list_blobs(name_starts_with=store.file_prefix(name, uid))]
    record = ModelRecord(name=name, version=0, uid=uid, root=root, is_file=files == [root],
                         run_id=call.grant.step_run_id, experiment_name=str(
                             call.grant.services.runs.get_run(call.grant.run_id).get("experiment") or ""),
                         **registration_fields(body))
    return store.create_version(record).to_dict()


def _update_model(call: Call) -> Any:
    body = call.json()
    return call.grant.records.models.update(
        unquote(call.args[0]), int(call.args[1]), add_tags=body.get("add_tags"), remove_tags=body.get("remove_tags"),
        add_properties=body.get("add_properties"), description=body.get("description")).to_dict()


def _delete_model(call: Call) -> Any:
    store = call.grant.records.models
    store.delete(store.get(unquote(call.args[0]), int(call.args[1])))
    return {"deleted": True}


Route = tuple[str, re.Pattern[str], Callable[[Call], Any]]
_RUN = r"/v1/runs/([^/]+)"
ROUTES: list[Route] = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in [
    ("GET", _RUN, _details),
    ("POST", _RUN + "/metrics", _log_metrics),
    ("GET", _RUN + "/metrics", _get_metrics),
    ("POST", _RUN + "/tags", _set_tags),
    ("GET", _RUN + "/tags", _get_tags),
    ("POST", _RUN + "/properties", _add_properties),
    ("PUT", _RUN + "/files", _put_file),
    ("GET", _RUN + "/files", _list_files),
    ("GET", _RUN + "/files/content", _get_file),
    ("POST", _RUN + "/models", _register_from_run),
    ("GET", "/v1/models", _find_models),
    ("POST", "/v1/models/local", _local_model),
    ("POST", "/v1/models/uploads", _start_upload),
    ("PUT", r"/v1/models/uploads/([0-9a-f]{32})", _upload_part),
    ("POST", "/v1/models", _finish_upload),
    ("POST", r"/v1/models/([^/]+)/([0-9]{1,10})", _update_model),
    ("DELETE", r"/v1/models/([^/]+)/([0-9]{1,10})", _delete_model),
]]
