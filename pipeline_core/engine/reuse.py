"""Reuse keys: what must be equal for a step's earlier outputs to stand in for running it again.

The key covers the whole source snapshot (not only the main script, AML's
known trap), the script name, the resolved arguments and parameter values, the
output destinations, and the identity of every input: for pipeline data the
location its producer wrote (a rerun upstream writes a new location, so the
consumer reruns); for datastore inputs a fingerprint of blob names and ETags
(changed data reruns the consumer, the complaint AML users raise most).

A key match alone does not prove the earlier outputs are still there as written:
a fixed destination (``OutputFileDatasetConfig(destination=...)``) may have been
overwritten by another run since. So a finished step records each output's blob
names and ETags (its *manifest*), and reuse lists each output once and compares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from azure.storage.blob import ContainerClient

from pipeline_core.spec_types import StepEntry
from pipeline_core.storage.blobs import list_prefix

KEY_VERSION = 1
#: The manifests of a step's outputs are kept in one Table property (at most 32K characters); past this
#: size only each output's blob count and digest are kept, and a mismatch cannot say how many blobs differ.
MAX_MANIFEST_CHARS = 30_000

Blobs = list[tuple[str, str, int]]  # (name, etag, size), as storage.blobs.list_prefix answers


def reuse_key(step: StepEntry, arguments: list[str], params: dict[str, str],
              inputs: dict[str, Any], outputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The key and its parts; the parts are stored so "why was this reused" has an answer."""
    parts: dict[str, Any] = {
        "version": KEY_VERSION,
        "type": step.get("type"),
        "snapshot": step.get("snapshot"),
        "script_name": step.get("script_name"),
        "arguments": arguments,
        "params": params,
        "inputs": inputs,
        "outputs": outputs,
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest(), parts


def changed_parts(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Which named parts differ between two keys' parts (for 'why did this step run again')."""
    if not old:
        return ["no earlier run"]
    changed = []
    for name in ("snapshot", "script_name", "arguments", "params", "outputs", "type"):
        if old.get(name) != new.get(name):
            changed.append(name)
    old_inputs, new_inputs = old.get("inputs", {}), new.get("inputs", {})
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            changed.append(f"input {name}")
    return changed


def _relative(name: str, prefix: str) -> str:
    return name[len(prefix) + 1:] if prefix and name.startswith(prefix + "/") else name


def output_manifest(blobs: Blobs, prefix: str, written: dict[str, str] | None = None) -> dict[str, Any]:
    """An output's blob names (relative to it) and ETags, their count and a digest over both.

    ``written``: blob name -> the ETag this step's upload got back. It wins over the
    listing, so a blob another run overwrote between the upload and the listing is
    recorded as this step wrote it, and the next reuse notices the difference.
    """
    prefix = prefix.strip("/")
    entries = {_relative(name, prefix): (written or {}).get(name, etag) for name, etag, _ in blobs}
    return {"count": len(entries), "digest": _digest(entries), "blobs": entries}


def _digest(entries: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(entries):
        digest.update(f"{name}\0{entries[name]}\n".encode())
    return digest.hexdigest()


def fit_manifests(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The manifests as stored: blob maps dropped (count and digest kept) when they would not fit a Table property."""
    if len(json.dumps(manifests, sort_keys=True)) <= MAX_MANIFEST_CHARS:
        return manifests
    return {d: {"count": m["count"], "digest": m["digest"]} for d, m in manifests.items()}


def output_change(recorded: dict[str, Any], blobs: Blobs, prefix: str) -> str | None:
    """How an output differs from its manifest (e.g. ``"3 blobs differ"``), or None when it is as recorded."""
    now = output_manifest(blobs, prefix)
    if now["digest"] == recorded.get("digest"):
        return None
    before = recorded.get("blobs")
    if not isinstance(before, dict):
        return f"its {recorded.get('count')} recorded blobs no longer match the {now['count']} there now"
    differ = sum(1 for name in set(before) | set(now["blobs"]) if before.get(name) != now["blobs"].get(name))
    return f"{differ} blob{'' if differ == 1 else 's'} differ{'s' if differ == 1 else ''}"


def stale_outputs(container_for: Callable[[str], ContainerClient], found: dict[str, Any]) -> str | None:
    """Why a reuse candidate's outputs are not what its run wrote (one listing per output), or None when they are.

    ``found`` is the reuse record (``ReuseStore.lookup``). A record written before
    manifests existed can only be checked by its blob count.
    """
    manifests = found.get("manifests") or {}
    for data_id, loc in sorted(found["outputs"].items()):
        blobs = list_prefix(container_for(loc["datastore"]), loc["path"])
        recorded = manifests.get(data_id)
        if recorded is None:
            expected = int(loc.get("count", 0))
            if expected and len(blobs) < expected:
                return (f"output {data_id!r} of run {found['run_id']} lost blobs ({len(blobs)} of {expected} "
                        "left)")
            continue
        change = output_change(recorded, blobs, loc["path"])
        if change:
            return f"output {data_id!r} changed since run {found['run_id']} ({change})"
    return None
