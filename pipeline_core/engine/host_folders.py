"""Each host keeps its steps' folders in a folder named after itself; the next host removes a dead one's.

Why: a step attempt's work folder (its outputs before upload, its snapshot copy) and a
ParallelRunStep's RAM scratch (``/dev/shm``: the inputs of its small mini-batches) are removed when the
attempt ends. A host that is killed (``kill -9``, the OOM killer, a lost VM) never gets there, and what
it left stayed until someone deleted it by hand: gigabytes of outputs under the cache, or RAM held in
``/dev/shm`` until a reboot. Named ``{prefix}{hostname}_{pid}_{start}`` (the host's identity, as run rows
record it), a host folder tells whether its owner still runs: on this machine, a process with that pid
and start time. The first time a process makes a host folder under a base folder, it removes (on a
thread of its own) every folder there whose owner is gone; a live host's folder is never touched, nor
one of another machine sharing the folder, nor a folder another user owns.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import threading
from pathlib import Path

from pipeline_core.engine.launch import host_identity
from pipeline_core.engine.orphans import owner_is_gone

log = logging.getLogger("amlite.engine")

_lock = threading.Lock()
_made: dict[tuple[Path, str], Path] = {}


def host_folder(base: Path, prefix: str) -> Path:
    """This process's folder under ``base`` (made on first use, which also starts the sweep of ``base``)."""
    key = (base, prefix)
    with _lock:
        folder = _made.get(key)
        if folder is not None and folder.is_dir():
            return folder
        first = folder is None
        folder = base / (prefix + host_identity().replace("/", "_"))
        folder.mkdir(parents=True, exist_ok=True)
        _made[key] = folder
    if first:
        threading.Thread(target=sweep, args=(base, prefix), name="amlite-leftovers", daemon=True).start()
    return folder


@atexit.register
def _remove_own_if_empty() -> None:
    """A host that exits cleanly leaves no folder behind (its attempts removed theirs; a non-empty one stays)."""
    for folder in list(_made.values()):
        try:
            folder.rmdir()
        except OSError:
            pass


def owner_of(name: str, prefix: str) -> str | None:
    """The host identity (``hostname/pid/start``) a folder's name says, or None for any other name."""
    if not name.startswith(prefix):
        return None
    parts = name[len(prefix):].rsplit("_", 2)  # a hostname may hold "_"; the pid and the start do not
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return "/".join(parts)


def sweep(base: Path, prefix: str) -> list[Path]:
    """Remove the host folders under ``base`` whose owner is gone; returns what was removed."""
    removed: list[Path] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        owner = owner_of(entry.name, prefix)
        if owner is None:
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or (uid is not None and entry.stat(follow_symlinks=False).st_uid != uid):
                continue
        except OSError:
            continue
        if not owner_is_gone(owner):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    if removed:
        log.info("removed %d folder(s) of stopped hosts under %s", len(removed), base)
    return removed
