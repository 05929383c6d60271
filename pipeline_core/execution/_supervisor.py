"""The step supervisor: the first process of every step, so nothing the step starts outlives it.

Started by ``pipeline_core.execution.process`` as ``python -I -S _supervisor.py
<host pid> <grace seconds> -- <command...>`` (by path and with the standard library
only: it adds one bare interpreter start to a step). It leads the step's process
group and session, is a child subreaper (a descendant whose parent dies is re-parented
here, even one that left the group with ``setsid``), and starts the command as its
child. It then ends everything below it:

- when the command exits (children it left behind get SIGTERM, then SIGKILL after the
  grace), and exits with the command's status;
- on SIGTERM from the host (cancel, timeout): SIGTERM to everything, SIGKILL after the
  grace;
- on SIGUSR1: SIGKILL to everything at once. SIGUSR1 is also its parent-death signal
  (``PR_SET_PDEATHSIG``), so a host killed with ``kill -9`` takes its steps with it. The
  kernel sends that signal when the *thread* that forked this process ends; the host
  forks supervisors from one thread that lives as long as the process.

Why a separate process rather than ``start_new_session`` alone: a parent-death signal
reaches only the direct child, and ``killpg`` misses whatever left the group. Linux only
(``prctl``); elsewhere the supervisor still ends the command's tree on exit and on request.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
WATCHED = {signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD, signal.SIGHUP, signal.SIGINT}


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (AttributeError, OSError):  # not Linux: the tree is still ended on exit and on request
        pass


def _processes() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, pgrp, state) of every process visible in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                text = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
        if len(fields) >= 3:
            found.append((int(entry), int(fields[1]), int(fields[2]), fields[0]))
    return found


def _below(me: int) -> list[int]:
    """Live processes of this step: descendants (re-parented orphans included) and members of the group."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, ppid, _, _ in table:
        children.setdefault(ppid, []).append(pid)
    tree: set[int] = set()
    todo = list(children.get(me, []))
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, []))
    group = {pid for pid, _, pgrp, _ in table if pgrp == me}
    alive = {pid for pid, _, _, state in table if state not in ("Z", "X")}
    return sorted((tree | group) & alive - {me})


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(script: int) -> int | None:
    """Collect every exited child; returns the command's wait status if it was among them."""
    status = None
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == script:
            status = code


def _exit_like(status: int) -> None:
    """Leave with the command's status: its exit code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _start(command: list[str], mask: set[signal.Signals] | set[int | signal.Signals]) -> int:
    pid = os.fork()
    if pid == 0:  # the step's command: default signal handling, as if started directly
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for signum in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(signum, signal.SIG_DFL)
            os.execvp(command[0], command)
        except BaseException as exc:
            os.write(2, f"amlite: cannot start {command[0]}: {exc}\n".encode())
        os._exit(127)
    return pid


def supervise(host: int, grace: float, command: list[str]) -> None:
    me = os.getpid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # an inherited SIG_IGN would reap children behind our back
    _prctl(PR_SET_PDEATHSIG, signal.SIGUSR1)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    if os.getppid() != host:  # the host died before the death signal was armed: start nothing
        os._exit(137)
    script = _start(command, old_mask)
    os.closerange(3, 1 << 16)  # descriptors passed for the command (a worker's socket) are the command's alone
    status: int | None = None
    mode = ""  # "" running, "term" stopping with a grace, "kill" stopping now
    deadline: float | None = None
    while True:
        found = _reap(script)
        if found is not None:
            status = found
        if os.getppid() != host:
            mode = "kill"
        if status is not None or mode:
            left = _below(me)
            if status is not None and not left:
                _exit_like(status)
            if mode == "kill" or (deadline is not None and time.monotonic() >= deadline):
                _signal_all(left, signal.SIGKILL)
                if status is None and not left:  # nothing left to wait for but the command's status
                    _signal_all([script], signal.SIGKILL)
            elif deadline is None:
                _signal_all(left, signal.SIGTERM)
                deadline = time.monotonic() + grace
        waiting = 0.05 if (status is not None or mode) else 1.0
        info = signal.sigtimedwait(WATCHED, waiting)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        if info.si_signo == signal.SIGUSR1:
            mode = "kill"
        elif not mode:
            mode = "term"


def main(argv: list[str]) -> None:
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: _supervisor.py <host pid> <grace seconds> -- <command...>\n")
        os._exit(2)
    supervise(int(argv[1]), float(argv[2]), argv[4:])


if __name__ == "__main__":
    main(sys.argv)
