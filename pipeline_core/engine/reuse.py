"""Reuse keys: what must be equal for a step's earlier outputs to stand in for running it again.

The key covers the whole source snapshot (not only the main script, AML's
known trap), the script name, the resolved arguments and parameter values, the
output destinations, and the identity of every input: for pipeline data the
location its producer wrote (a rerun upstream writes a new location, so the
consumer reruns); for datastore inputs a fingerprint of blob names and ETags
(changed data reruns the consumer, the complaint AML users raise most).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_VERSION = 1


def reuse_key(step: dict[str, Any], arguments: list[str], params: dict[str, str],
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
