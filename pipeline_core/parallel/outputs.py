"""Uploading what entry scripts write to ``EntryScript().output_dir`` (or an output argument) as batches finish.

AML mounts the output folder, so files a script writes there simply appear.
Here the folder is local to the host; after each batch the files that are new
or changed since the last upload (by size and mtime) go to the step's output
location, and once more when the host's pool closes.
"""

from __future__ import annotations

import threading
from pathlib import Path

from azure.storage.blob import ContainerClient


class OutputSync:
    def __init__(self, container: ContainerClient, folder: Path, prefix: str):
        self.container = container
        self.folder = folder
        self.prefix = prefix.strip("/")
        self._seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def sync(self) -> int:
        """Upload new or changed files; returns how many were uploaded."""
        with self._lock:
            uploaded = 0
            for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
                rel = path.relative_to(self.folder).as_posix()
                stat = path.stat()
                state = (stat.st_size, stat.st_mtime_ns)
                if self._seen.get(rel) == state:
                    continue
                with open(path, "rb") as handle:
                    self.container.upload_blob(f"{self.prefix}/{rel}", handle, overwrite=True)
                self._seen[rel] = state
                uploaded += 1
            return uploaded
