"""Which process owns stored orchestrations, and whether it still runs.

An owner is ``hostname/pid/process start`` (the start time in clock ticks from
``/proc``, so a reused pid is told apart). The dev host writes it on the
orchestrations it keeps in storage; a later host adopts those whose owner is
gone (no such pid on this machine, a pid reused by another process, or a
zombie), as Durable Functions' partition leases expire. Owners on other
machines are never judged: their pid means nothing here.

The format is plain text on purpose: an app that records owners of its own (amlite's run rows) writes the
same string for the same process without importing this module.
"""

from __future__ import annotations

import os
import socket


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_identity() -> str:
    """``hostname/pid/start`` of this process."""
    fields = _stat(os.getpid())
    start = fields[19] if fields is not None and len(fields) > 19 else "0"
    return f"{socket.gethostname()}/{os.getpid()}/{start}"


def _alive(pid: int, start: str) -> bool:
    """The process exists, is the one that started at ``start``, and is not a zombie (state Z/X)."""
    fields = _stat(pid)
    if fields is None:
        if os.path.isdir("/proc"):
            return False
        try:  # no procfs (not Linux): the pid alone says it
            os.kill(pid, 0)
            return start == "0"
        except OSError:
            return False
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return False
    return fields[19] == start


def owner_is_gone(owner: str) -> bool:
    """True when ``owner`` names a process of this machine that no longer runs."""
    try:
        hostname, pid, start = owner.split("/")
        number = int(pid)
    except ValueError:
        return False
    return hostname == socket.gethostname() and not _alive(number, start)
