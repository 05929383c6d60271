"""Content-addressed snapshots of a step's ``source_directory``.

Why the whole directory: AML v1 hashed only the main script by default, so a
change in an imported helper module silently reused stale results. Here the
hash covers every file that is not ignored (``.amlignore``, else ``.gitignore``,
gitignore syntax), so a touched helper reruns the step.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pathspec
from azure.storage.blob import ContainerClient

from pipeline_core.errors import AmliteError
from pipeline_core.safe_paths import UnsafePathError, relative_path_problem, safe_join, script_name_problem
from pipeline_core.storage.blobs import RangedBlob

ALWAYS_IGNORED = [".git/", "__pycache__/", "*.pyc", ".ipynb_checkpoints/", ".amlite/", ".azurite/"]
SNAPSHOT_CONTAINER = "snapshots"
MAX_SNAPSHOT_BYTES = 300 * 1024 * 1024  # AML's own limit; a bigger folder is almost always data by mistake


@dataclass(frozen=True)
class Snapshot:
    source_directory: Path
    files: tuple[str, ...]
    hash: str

    @property
    def blob_name(self) -> str:
        return f"{self.hash}.zip"


def _ignore_spec(root: Path) -> pathspec.PathSpec:
    patterns = list(ALWAYS_IGNORED)
    for name in (".amlignore", ".gitignore"):
        ignore_file = root / name
        if ignore_file.is_file():
            patterns.extend(ignore_file.read_text(encoding="utf-8", errors="replace").splitlines())
            break
    return pathspec.PathSpec.from_lines("gitignore", patterns)


#: A file's identity: inode, size, modification and change times (ctime moves on any write or rename).
FileIdentity = tuple[int, int, int, int]
_cache: dict[tuple[str, tuple[tuple[str, FileIdentity], ...]], Snapshot] = {}
_file_digests: dict[tuple[str, FileIdentity], tuple[bytes, int]] = {}
_FILE_DIGESTS_KEPT = 20_000


def _identity(stat: os.stat_result) -> FileIdentity:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _file_digest(path: Path, identity: FileIdentity) -> tuple[bytes, int]:
    """sha256 and size of one file, read again only when its identity changed (a rerun hashes nothing)."""
    key = (str(path), identity)
    found = _file_digests.get(key)
    if found is None:
        data = path.read_bytes()
        found = (hashlib.sha256(data).digest(), len(data))
        if len(_file_digests) >= _FILE_DIGESTS_KEPT:
            _file_digests.clear()
        _file_digests[key] = found
    return found


def take_snapshot(source_directory: str | Path) -> Snapshot:
    """List and hash the files that belong to the snapshot.

    Cached by the identity of every file (inode, size, mtime, ctime), not by the newest mtime: a file
    replaced by an older one, or edited within the clock's resolution, still changes the snapshot,
    and an unchanged file is never read twice in a process.
    """
    root = Path(source_directory).resolve()
    if not root.is_dir():
        raise AmliteError(f"source_directory {str(source_directory)!r} is not a directory")
    spec = _ignore_spec(root)
    entries: list[tuple[str, Path, FileIdentity]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(rel_dir + d + "/"))
        for filename in filenames:
            rel = rel_dir + filename
            if spec.match_file(rel):
                continue
            path = Path(dirpath) / filename
            entries.append((rel, path, _identity(path.stat())))
    entries.sort()
    key = (str(root), tuple((rel, identity) for rel, _, identity in entries))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256(b"amlite-snapshot/1\0")
    total = 0
    for rel, path, identity in entries:
        file_digest, size = _file_digest(path, identity)
        total += size
        digest.update(rel.encode() + b"\0" + file_digest)
    if total > MAX_SNAPSHOT_BYTES:
        raise AmliteError(
            f"source_directory {str(root)!r} holds {total // (1024 * 1024)} MB of files to snapshot "
            f"(limit {MAX_SNAPSHOT_BYTES // (1024 * 1024)} MB): move data to a datastore or list it in .amlignore"
        )
    snapshot = Snapshot(root, tuple(rel for rel, _, _ in entries), digest.hexdigest())
    if len(_cache) >= 256:
        _cache.clear()
    _cache[key] = snapshot
    return snapshot


def snapshot_zip(snapshot: Snapshot) -> bytes:
    """A deterministic zip of the snapshot's files (fixed timestamps, sorted order)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel in snapshot.files:
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            mode = (snapshot.source_directory / rel).stat().st_mode
            info.external_attr = (mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (snapshot.source_directory / rel).read_bytes())
    return buffer.getvalue()


def cache_root() -> Path:
    return Path(os.environ.get("AMLITE_CACHE_DIR") or Path.home() / ".cache" / "amlite")


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry cannot be unpacked into a snapshot folder: a climbing or absolute name, a symlink."""
    problem = relative_path_problem(info.filename)
    if problem:
        return problem
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link (a snapshot holds regular files only)"
    return None


def _refuse_entry(snapshot_hash: str, info: zipfile.ZipInfo, problem: str) -> UnsafePathError:
    return UnsafePathError(f"snapshot {snapshot_hash}.zip: entry {info.filename!r} {problem}; it was not unpacked. "
                           "Snapshots are made by the SDK (take_snapshot); upload one it made")


def check_entries(snapshot_hash: str, infos: list[zipfile.ZipInfo]) -> list[str]:
    """The file entries of a snapshot zip, or ``UnsafePathError`` naming the first entry that is not a plain file."""
    files = []
    for info in infos:
        problem = _entry_problem(info)
        if problem:
            raise _refuse_entry(snapshot_hash, info, problem)
        if not info.is_dir():
            files.append(info.filename)
    return files


def extract_to_cache(snapshot_hash: str, data: bytes) -> Path:
    """Unpack once per content hash; concurrent extractors race harmlessly via an atomic rename.

    Each entry is joined with ``safe_join`` and written by hand (not ``ZipFile.extract``, which
    rewrites hostile names instead of refusing them), and only permission bits are applied.
    """
    target = safe_join(cache_root() / "snapshots", snapshot_hash, f"snapshot {snapshot_hash!r}")
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot_hash[:12]}-", dir=target.parent))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            check_entries(snapshot_hash, infos)
            for info in infos:
                dest = safe_join(staging, info.filename, f"snapshot {snapshot_hash}.zip: entry {info.filename!r}")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(dest, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(dest, mode | 0o400)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def script_path(src: Path, script_name: str, step: str) -> Path:
    """The step's script inside its working copy, or an error: never a path outside the snapshot or an option.

    The executor's own check (the spec was checked at submit too): a crafted spec
    that slipped past would otherwise run ``python -c <code>`` or a file elsewhere.
    """
    problem = script_name_problem(script_name)
    if problem is None:
        path = safe_join(src, script_name, f"step {step!r}: script_name {script_name!r}")
        if path.is_file():
            return path
        problem = "is not a file in the step's snapshot"
    raise AmliteError(f"step {step!r}: script_name {script_name!r} {problem}; refused to run it")


_listed: dict[str, tuple[str, ...]] = {}


def uploaded_files(container: ContainerClient, snapshot_hash: str) -> tuple[str, ...]:
    """The files of an uploaded snapshot, from its zip's central directory (a few ranged reads, cached per hash).

    Raises ``UnsafePathError`` for a zip with a climbing, absolute or symlink entry,
    and ``AmliteError`` for a blob that is not a zip.
    """
    cached = _listed.get(snapshot_hash)
    if cached is not None:
        return cached
    blob = container.get_blob_client(f"{snapshot_hash}.zip")
    size = int(blob.get_blob_properties().size or 0)
    try:
        with zipfile.ZipFile(io.BufferedReader(RangedBlob(container, f"{snapshot_hash}.zip", size),
                                               buffer_size=64 * 1024)) as archive:
            files = tuple(check_entries(snapshot_hash, archive.infolist()))
    except zipfile.BadZipFile as exc:
        raise AmliteError(f"snapshot {snapshot_hash}.zip is not a zip archive ({exc}); upload the zip the SDK "
                          "makes (Pipeline.publish or Experiment.submit do)") from None
    if len(_listed) >= 4096:  # content-addressed, so never stale; only bounded
        _listed.clear()
    _listed[snapshot_hash] = files
    return files


def working_copy(snapshot_dir: Path, destination: Path) -> Path:
    """A per-step working directory, copied (not linked) so a script that rewrites its own files cannot corrupt the cache."""
    shutil.copytree(snapshot_dir, destination, copy_function=shutil.copy, dirs_exist_ok=True)
    return destination
