"""The files a step wrote to an output: listing them, and reading one for a browser download.

Names from requests are never trusted as paths (ARCHITECTURE §8): the
datastore and folder come from the step row the engine wrote; the request only
names the output (which must be one of the step's) and a path *inside* it,
refused when it is absolute, climbs out with ``..`` or holds backslashes or
control characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from pipeline_core.engine.services import Services
from pipeline_core.rest.errors import ServiceError, bad_request

MAX_LIST = 1000
#: Larger files are refused for a browser download (the app would hold them in memory); the SDK downloads
#: them from the datastore directly.
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
MAX_PATH_CHARS = 1024


@dataclass(frozen=True)
class OutputPlace:
    name: str
    datastore: str
    prefix: str  # the folder in the container, without a trailing "/" ("" for the container's root)
    container: ContainerClient


def output_place(services: Services, run_id: str, step: str, output: str) -> OutputPlace:
    """Where a step's output lives, from its step row; 404 naming the outputs it has when ``output`` is none."""
    row = services.runs.get_step(run_id, step)
    outputs = {k: v for k, v in (row.get("outputs") or {}).items() if isinstance(v, dict)}
    if output not in outputs:
        have = ", ".join(sorted(outputs)) or "none yet (outputs are recorded when the step ends)"
        raise ServiceError(404, "NotFound", f"step {step!r} of run {run_id!r} has no output {output!r}; "
                                            f"its outputs: {have}")
    location = outputs[output]
    datastore = str(location.get("datastore") or "")
    prefix = str(location.get("path") or "").strip("/")
    return OutputPlace(output, datastore, prefix, services.container_for(datastore))


def _relative(place: OutputPlace, blob_name: str) -> str:
    return blob_name[len(place.prefix) + 1:] if place.prefix else blob_name


def list_files(place: OutputPlace, top: int, continuation: str | None) -> dict[str, Any]:
    """One page of the output's files (name inside the output, size, last modified) and the next page's token."""
    starts = f"{place.prefix}/" if place.prefix else None
    pages = place.container.list_blobs(name_starts_with=starts, results_per_page=top).by_page(
        continuation_token=continuation or None)
    try:
        page = next(pages)
        blobs = list(page)
    except StopIteration:
        blobs = []
    except ValueError:
        raise bad_request("query parameter 'continuation' is not a token this listing returned; start again "
                          "without it", "continuation", "InvalidQuery") from None
    files = [{"Path": _relative(place, b.name), "Size": b.size,
              "LastModified": b.last_modified.isoformat() if b.last_modified else None} for b in blobs]
    return {"Output": place.name, "DataStoreName": place.datastore, "RelativePath": place.prefix,
            "Value": files, "Continuation": getattr(pages, "continuation_token", None) or None}


def safe_relative_path(path: str | None) -> str:
    """``path`` as a name inside an output folder; 400 for anything that could point elsewhere."""
    text = (path or "").strip()
    problem = None
    if not text:
        problem = "is required: the file's path inside the output, as the files listing gives it"
    elif len(text) > MAX_PATH_CHARS:
        problem = f"is {len(text)} characters; the limit is {MAX_PATH_CHARS}"
    elif text.startswith("/") or "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        problem = "must be relative, with / between folders and no backslashes or control characters"
    elif any(part in ("", ".", "..") for part in text.split("/")):
        problem = "must not contain empty, '.' or '..' segments: it names a file inside the output"
    if problem:
        raise bad_request(f"query parameter 'path' {problem}", "path", "InvalidPath")
    return text


def read_file(place: OutputPlace, path: str) -> bytes:
    """The bytes of one file of the output; 404 when missing, 413 when too large for a browser download."""
    relative = safe_relative_path(path)
    blob = place.container.get_blob_client(f"{place.prefix}/{relative}" if place.prefix else relative)
    try:
        size = blob.get_blob_properties().size
    except ResourceNotFoundError:
        raise ServiceError(404, "NotFound", f"output {place.name!r} has no file {relative!r}; list its files "
                                            "to see the names") from None
    if size > MAX_DOWNLOAD_BYTES:
        raise ServiceError(413, "FileTooLarge", f"{relative!r} is {size} bytes; downloads through the app stop at "
                                                f"{MAX_DOWNLOAD_BYTES} bytes: download it with the SDK "
                                                "(StepRun.get_output_data(name).download()) instead")
    return bytes(blob.download_blob().readall())
