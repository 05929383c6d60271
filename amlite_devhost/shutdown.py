"""What a stopping host does with the step processes it started, and how it waits before Python tears down.

Steps run as child processes in their own session (their own process group),
so a signal to the host does not reach them. When a graceful stop's grace
period ends with steps still running, the host kills their groups and exits
at once (``os._exit``): the activities must not live on to record a step the
host itself killed as Failed; the step rows stay Running and the next host
runs those steps again (at least once, as Durable Functions does).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger("amlite.devhost")


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[1] == me:
            found.append(int(entry))
    return found


def _same_program(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe") == os.readlink("/proc/self/exe")
    except OSError:
        return False


def stop_step_processes() -> list[int]:
    """SIGKILL the process group of every child that runs this Python in a group of its own (the step
    scripts and ParallelRunStep workers; not the storage emulator, which is node). Returns the groups."""
    killed = []
    for pid in _children():
        try:
            if os.getpgid(pid) != pid or not _same_program(pid):
                continue
            os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            continue
    return killed


def exit_now(code: int = 0) -> None:
    """Kill the steps still running and leave without running Python's shutdown (see the module doc)."""
    with contextlib.suppress(Exception):
        logging.shutdown()
    stop_step_processes()
    os._exit(code)


def before_thread_shutdown(callback: Callable[[], None]) -> None:
    """Run ``callback`` at interpreter exit *before* ``concurrent.futures`` refuses new work.

    ``atexit`` runs after Python has shut every thread pool down (work submitted
    then fails with "cannot schedule new futures after interpreter shutdown"), too
    late to finish runs that still need to schedule steps; ``threading`` runs its
    own exit hooks first, in reverse order of registration.
    """
    import atexit

    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:  # CPython has had it since 3.9
            register(callback)
            return
    except RuntimeError:  # already shutting down: atexit is all that is left
        pass
    atexit.register(callback)
