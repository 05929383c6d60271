"""Which blobs a dataset's paths name, and where each lands below a local folder.

Why one module: the same answer is needed when a dataset is validated, listed
(``to_path``), downloaded (``download``, a step input), fingerprinted for the
reuse key and cut into ParallelRunStep mini-batches. If any of them disagreed
a step would read files its reuse key never saw.

Path rules (AML v1 globbing): ``folder/**`` is every blob under ``folder``;
``*`` matches within one path segment, ``**`` across segments (``a/**/*.csv``
includes ``a/x.csv``); a path without a glob names one blob if such a blob
exists, else every blob under it as a folder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.safe_paths import safe_join

if TYPE_CHECKING:  # imported where blobs are used: a command reading run rows never loads the Blob SDK
    from azure.storage.blob import ContainerClient

ContainerFor = Callable[[str], "ContainerClient"]  # datastore name -> container

# Its own pool: callers may already run on the storage.blobs pool, and waiting on that from inside it can deadlock.
_download_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="amlite-dataset")
_GLOB_CHARS = re.compile(r"[*?\[]")
_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$")


@dataclass(frozen=True)
class DatasetFile:
    """One matched blob: where it is, its identity (ETag, size), and its path relative to the dataset's base."""

    datastore: str
    name: str
    etag: str
    size: int
    relative: str

    def to_dict(self) -> dict[str, Any]:
        return {"datastore": self.datastore, "name": self.name, "etag": self.etag, "size": self.size,
                "relative": self.relative}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> DatasetFile:
        return cls(value["datastore"], value["name"], value["etag"], int(value["size"]), value["relative"])


def normalize_paths(path: Any) -> list[dict[str, str]]:
    """``(datastore, path)`` tuples, ``DataPath``s, ``azureml://datastores/...`` strings, or a list of them."""
    items = path if isinstance(path, list) else [path]
    if not items:
        raise AmliteError("a dataset needs at least one path, e.g. path=(datastore, 'folder/**')")
    found: list[dict[str, str]] = []
    for item in items:
        found.append(_one_path(item))
    return found


def _one_path(item: Any) -> dict[str, str]:
    if isinstance(item, tuple) and len(item) == 2:
        store, rel = item
        name = store if isinstance(store, str) else getattr(store, "name", None)
        if not isinstance(name, str) or not isinstance(rel, str):
            raise AmliteError(f"dataset path {item!r} must be (Datastore or datastore name, 'path/on/datastore')")
        return {"datastore": name, "path": rel.lstrip("/")}
    if hasattr(item, "datastore_name") and hasattr(item, "path_on_datastore"):  # DataPath, DataReference
        return {"datastore": item.datastore_name, "path": str(item.path_on_datastore).lstrip("/")}
    if isinstance(item, str):
        match = _DATASTORE_URI.match(item)
        if match:
            return {"datastore": match["ds"], "path": match["path"].lstrip("/")}
        if item.lower().startswith(("http://", "https://")):
            from pipeline_core.data.web_files import WEB_DATASTORE

            return {"datastore": WEB_DATASTORE, "path": item}
    raise AmliteError(
        f"dataset path {item!r} is not understood; pass (datastore, 'folder/**'), a DataPath, "
        "'azureml://datastores/<name>/paths/<path>' or a list of those")


def static_prefix(pattern: str) -> tuple[str, bool]:
    """The folder before the first glob segment, and whether the pattern has a glob at all."""
    segments = [s for s in pattern.strip("/").split("/") if s]
    for index, segment in enumerate(segments):
        if _GLOB_CHARS.search(segment):
            return "/".join(segments[:index]), True
    return "/".join(segments), False


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob: ``**`` crosses ``/`` (and ``**/`` may match nothing), ``*`` and ``?`` do not."""
    text = pattern.strip("/")
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        elif text[i] == "[":
            end = text.find("]", i + 1)
            if end == -1:
                out.append(re.escape(text[i]))
                i += 1
            else:
                body = text[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


# (container, prefix) -> [(name, etag, size)] of every blob under the prefix: how to list, when the caller has a
# faster way than the SDK's (whose XML deserialisation costs about 0.5 ms of CPU per blob).
Lister = Callable[["ContainerClient", str], list[tuple[str, str, int]]]


def _list(container: ContainerClient, prefix: str, lister: Lister | None = None) -> list[tuple[str, str, int]]:
    if lister is not None:
        return lister(container, (prefix + "/") if prefix else "")
    blobs = []
    for blob in container.list_blobs(name_starts_with=(prefix + "/") if prefix else None):
        blobs.append((blob.name, str(blob.etag).strip('"'), int(blob.size or 0)))
    return blobs


def _match_one(container: ContainerClient, pattern: str,
               lister: Lister | None = None) -> tuple[str, list[tuple[str, str, int]]]:
    """(base folder, matched blobs) for one pattern."""
    prefix, has_glob = static_prefix(pattern)
    if has_glob:
        regex = glob_regex(pattern)
        return prefix, [b for b in _list(container, prefix, lister) if regex.match(b[0])]
    if prefix:
        blob = container.get_blob_client(prefix)
        if blob.exists():
            props = blob.get_blob_properties()
            base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
            return base, [(prefix, str(props.etag).strip('"'), int(props.size or 0))]
    return prefix, _list(container, prefix, lister)


def _common_folder(folders: Iterable[str]) -> str:
    split = [f.split("/") if f else [] for f in folders]
    if not split:
        return ""
    common: list[str] = []
    for parts in zip(*split):
        if all(p == parts[0] for p in parts):
            common.append(parts[0])
        else:
            break
    return "/".join(common)


def list_files(container_for: ContainerFor, paths: list[dict[str, str]],
               lister: Lister | None = None) -> list[DatasetFile]:
    """Every blob the paths match, de-duplicated, sorted by datastore and name (a stable batch order)."""
    from pipeline_core.data.web_files import WEB_DATASTORE, describe, file_name

    per_store: dict[str, list[tuple[str, list[tuple[str, str, int]]]]] = {}
    web: dict[str, DatasetFile] = {}
    for entry in paths:
        if entry["datastore"] == WEB_DATASTORE:  # an http(s) URL: one file, named by its last path segment
            etag, size = describe(entry["path"])
            web[entry["path"]] = DatasetFile(WEB_DATASTORE, entry["path"], etag, size, file_name(entry["path"]))
            continue
        container = container_for(entry["datastore"])
        per_store.setdefault(entry["datastore"], []).append(_match_one(container, entry["path"], lister))
    several = len(per_store) > 1
    files: dict[tuple[str, str], DatasetFile] = {}
    for store, matches in per_store.items():
        base = _common_folder(b for b, _ in matches)
        for _, blobs in matches:
            for name, etag, size in blobs:
                rel = name[len(base) + 1:] if base else name
                if several:
                    rel = f"{store}/{rel}"
                files.setdefault((store, name), DatasetFile(store, name, etag, size, rel))
    if web and (files or len(web) > 1):  # several sources: keep each URL's file apart, as stores are
        for url, f in web.items():
            files[(WEB_DATASTORE, url)] = DatasetFile(WEB_DATASTORE, url, f.etag, f.size,
                                                      f"web/{hashlib.sha256(url.encode()).hexdigest()[:8]}/{f.relative}")
    else:
        files.update({(WEB_DATASTORE, url): f for url, f in web.items()})
    return [files[k] for k in sorted(files)]


#: Blobs a page while looking for the first match: a glob over many files answers from its first page.
_FIRST_MATCH_PAGE = 100


def matches_any(container_for: ContainerFor, paths: list[dict[str, str]]) -> bool:
    """Whether the paths match at least one blob now (``validate=True``), reading no more than it must.

    ``list_files`` reads every match; a dataset of 1,000 files was listed whole by its definition
    (``Dataset.File.from_files``) before the step listed it again. This stops at the first one.
    """
    from pipeline_core.data.web_files import WEB_DATASTORE, describe

    for entry in paths:
        if entry["datastore"] == WEB_DATASTORE:
            describe(entry["path"])  # raises with the reason when the URL cannot be read
            return True
        container = container_for(entry["datastore"])
        prefix, has_glob = static_prefix(entry["path"])
        if not has_glob and prefix and container.get_blob_client(prefix).exists():
            return True
        regex = glob_regex(entry["path"]) if has_glob else None
        for blob in container.list_blobs(name_starts_with=(prefix + "/") if prefix else None,
                                         results_per_page=_FIRST_MATCH_PAGE):
            if regex is None or regex.match(blob.name):
                return True
    return False


def fingerprint_files(files: list[DatasetFile]) -> str:
    """Changes whenever a matched blob is added, removed or rewritten (ETag), which reruns consumers."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.datastore}\0{f.name}\0{f.etag}\0{f.size}\n".encode())
    return digest.hexdigest()


def local_path(folder: Path, f: DatasetFile) -> Path:
    """Where ``f`` lands below ``folder``; refused (``UnsafePathError``) when its name would leave it."""
    return safe_join(folder, f.relative, f"blob {f.name!r} on datastore {f.datastore!r}")


def download_files(container_for: ContainerFor, files: list[DatasetFile], target: Path,
                   overwrite: bool = True) -> list[Path]:
    """Download each file to ``target/<relative>``; returns the local paths in the same order.

    Every path is checked before any is written: a blob whose name climbs out of
    ``target`` refuses the whole download, naming the blob.
    """
    from pipeline_core.data.web_files import with_web

    container_for = with_web(container_for)
    target.mkdir(parents=True, exist_ok=True)
    destinations = {(f.datastore, f.name): local_path(target, f) for f in files}

    def fetch(f: DatasetFile) -> Path:
        dest = destinations[(f.datastore, f.name)]
        if dest.exists() and not overwrite:
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        with open(partial, "wb") as handle:
            container_for(f.datastore).download_blob(f.name).readinto(handle)
        partial.replace(dest)
        return dest

    return list(_download_pool.map(fetch, files))
