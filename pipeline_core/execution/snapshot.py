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
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pathspec

from pipeline_core.errors import AmliteError

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


_cache: dict[tuple[str, float, int], Snapshot] = {}


def take_snapshot(source_directory: str | Path) -> Snapshot:
    """List and hash the files that belong to the snapshot (cached per directory while nothing changes)."""
    root = Path(source_directory).resolve()
    if not root.is_dir():
        raise AmliteError(f"source_directory {str(source_directory)!r} is not a directory")
    spec = _ignore_spec(root)
    entries: list[tuple[str, Path]] = []
    latest = 0.0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(rel_dir + d + "/"))
        for filename in filenames:
            rel = rel_dir + filename
            if spec.match_file(rel):
                continue
            path = Path(dirpath) / filename
            latest = max(latest, path.stat().st_mtime)
            entries.append((rel, path))
    entries.sort()
    key = (str(root), latest, len(entries))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256(b"amlite-snapshot/1\0")
    total = 0
    for rel, path in entries:
        data = path.read_bytes()
        total += len(data)
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    if total > MAX_SNAPSHOT_BYTES:
        raise AmliteError(
            f"source_directory {str(root)!r} holds {total // (1024 * 1024)} MB of files to snapshot "
            f"(limit {MAX_SNAPSHOT_BYTES // (1024 * 1024)} MB): move data to a datastore or list it in .amlignore"
        )
    snapshot = Snapshot(root, tuple(rel for rel, _ in entries), digest.hexdigest())
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


def extract_to_cache(snapshot_hash: str, data: bytes) -> Path:
    """Unpack once per content hash; concurrent extractors race harmlessly via an atomic rename."""
    target = cache_root() / "snapshots" / snapshot_hash
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{snapshot_hash[:12]}-", dir=target.parent))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            archive.extract(info, staging)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(staging / info.filename, mode)
    try:
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def working_copy(snapshot_dir: Path, destination: Path) -> Path:
    """A per-step working directory, copied (not linked) so a script that rewrites its own files cannot corrupt the cache."""
    shutil.copytree(snapshot_dir, destination, copy_function=shutil.copy, dirs_exist_ok=True)
    return destination
