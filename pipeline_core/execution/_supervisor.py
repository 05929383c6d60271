"""The step supervisor: the first process of every step, so nothing the step starts outlives it.

Started by ``pipeline_core.execution.process`` as ``python -I -S _supervisor.py
<host pid> <grace seconds> -- <command...>`` (by path and with the standard library
only: it adds one bare interpreter start to a step), or forked, with no interpreter
start, by the host's fork server (``_supervisor.py --serve``, ``serve`` below), in
which case the server stands where the host stands in what follows. It starts the
command as its child and then ends everything below it:

- when the command exits (children it left behind get SIGTERM, then SIGKILL after the
  grace), and exits with the command's status;
- on SIGTERM from the host (cancel, timeout): SIGTERM to everything, SIGKILL after the
  grace;
- on SIGUSR1: SIGKILL to everything at once;
- when the host dies: SIGUSR1 is the supervisor's parent-death signal (``PR_SET_PDEATHSIG``),
  so a host killed with ``kill -9`` takes its steps with it (and a changed parent pid,
  checked every second, says the same where that signal does not exist). The kernel sends
  the signal when the *thread* that forked this process ends; the host forks supervisors
  from one thread that lives as long as the process.

On Linux "everything" is the supervisor's process group (it leads a new session and the
command stays in it) plus every descendant, found in /proc: the supervisor is a child
subreaper, so a descendant whose parent dies is re-parented to it, even one that left
the group with ``setsid``. Elsewhere (macOS, for local runs) the command gets a process
group of its own and "everything" is that group.
"""

from __future__ import annotations

import os
import select
import sys
import time

try:  # the C module: ``signal`` builds its enums at import, 5-20 ms of every step's start
    import _signal as signal
except ImportError:  # pragma: no cover - another interpreter
    import signal  # type: ignore[no-redef]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
WATCHED = {signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD, signal.SIGHUP, signal.SIGINT}
USE_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc")


def _prctl(option: int, value: int) -> None:
    """prctl(2) through ``_ctypes`` (under 1 ms to load; ``ctypes`` itself costs 6-20 ms of a step's start)."""
    try:
        import _ctypes

        libc = _ctypes.dlopen(None)  # type: ignore[arg-type]  # dlopen(NULL): the process's own symbols
        _ctypes.call_function(_ctypes.dlsym(libc, "prctl"), (option, value, 0, 0, 0))
        return
    except (ImportError, AttributeError, OSError):  # not Linux, or a _ctypes without these: ctypes, then nothing
        pass
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (AttributeError, OSError):  # not Linux: the parent pid check stands in
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


class _Tree:
    """The step's processes below the supervisor: which are left, and signalling all of them."""

    def __init__(self, me: int, script: int):
        self.me = me
        self.script = script

    def left(self) -> list[int]:
        if not USE_PROC:  # the command's own group: empty once killpg(…, 0) finds no member
            try:
                os.killpg(self.script, 0)
            except (ProcessLookupError, PermissionError):
                return []
            return [self.script]
        table = _processes()
        children: dict[int, list[int]] = {}
        for pid, ppid, _, _ in table:
            children.setdefault(ppid, []).append(pid)
        tree: set[int] = set()
        todo = list(children.get(self.me, []))
        while todo:
            pid = todo.pop()
            if pid not in tree:
                tree.add(pid)
                todo.extend(children.get(pid, []))
        group = {pid for pid, _, pgrp, _ in table if pgrp == self.me}
        alive = {pid for pid, _, _, state in table if state not in ("Z", "X")}
        return sorted((tree | group) & alive - {self.me})

    def send(self, pids: list[int], signum: int) -> None:
        if not USE_PROC:
            pids = []
            try:
                os.killpg(self.script, signum)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


def _reap(script: int) -> tuple[int | None, bool]:
    """Collect every exited child: (the command's wait status if it was among them, whether children are left).

    As a child subreaper the supervisor inherits every orphaned descendant, so "no child left"
    (ECHILD) means nothing of the step is left: the common exit needs no scan of /proc.
    """
    status = None
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status, False
        if pid == 0:
            return status, True
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


def _start(command: list[str], mask: set[int] | set[signal.Signals]) -> int:
    pid = os.fork()
    if pid == 0:  # the step's command: default signal handling, as if started directly
        try:
            if not USE_PROC:
                os.setpgid(0, 0)
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
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)  # held until the handlers are in place
    if os.getppid() != host:  # the host died before the death signal was armed: start nothing
        os._exit(137)
    script = _start(command, old_mask)
    os.closerange(3, 1 << 16)  # descriptors passed for the command (a worker's socket) are the command's alone
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    received: list[int] = []
    for signum in WATCHED:
        signal.signal(signum, lambda number, _frame: received.append(number))
    signal.set_wakeup_fd(wake_write)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    tree = _Tree(me, script)
    status: int | None = None
    mode = ""  # "" running, "term" stopping with a grace, "kill" stopping now
    deadline: float | None = None
    while True:
        while received:
            number = received.pop(0)
            if number == signal.SIGUSR1:
                mode = "kill"
            elif number != signal.SIGCHLD and not mode:
                mode = "term"
        found, children = _reap(script)
        if found is not None:
            status = found
        if os.getppid() != host:
            mode = "kill"
        if status is not None or mode:
            left = tree.left() if children or not USE_PROC else []
            if status is not None and not left:
                _exit_like(status)
            if mode == "kill" or (deadline is not None and time.monotonic() >= deadline):
                tree.send(left, signal.SIGKILL)
                if status is None:
                    tree.send([script], signal.SIGKILL)
            elif deadline is None:
                tree.send(left, signal.SIGTERM)
                deadline = time.monotonic() + grace
        select.select([wake_read], [], [], 0.05 if (status is not None or mode) else 1.0)
        try:
            while os.read(wake_read, 512):
                pass
        except BlockingIOError:
            pass


# -- the fork server --------------------------------------------------------------------
def _become_supervisor(request: dict, fds: list[int]) -> None:  # type: ignore[type-arg]
    """In a child just forked by the server: take the step's streams, folder and variables, then supervise.

    ``fds``: the step's stdout and stderr (the host's pipes). The server's own environment is empty, so
    the supervisor's (``/proc/<pid>/environ``) holds nothing of the host's either.
    """
    try:
        signal.set_wakeup_fd(-1)
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.closerange(3, 1 << 16)  # the server's socket, its wake pipe, the passed descriptors
        for signum in WATCHED:
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
    except BaseException as exc:
        os.write(2, f"amlite: cannot start the step's supervisor: {exc}\n".encode())
        os._exit(127)
    supervise(os.getppid(), float(request["grace"]), list(request["argv"]))


def serve(host: int, sock_fd: int) -> None:
    """Fork one supervisor per request from this long-lived process: no interpreter start per step.

    Started once per host (``process.py``: ``_ForkServer``) with an empty environment, as the host's
    child with the host's death as its own (``PR_SET_PDEATHSIG``); each supervisor it forks has this
    server's death as its own, so a host that dies takes the server, the supervisors and their steps.
    A request is ``{"argv", "cwd", "env", "grace"}`` (JSON) with the step's stdout and stderr
    descriptors; the answer is ``{"pid"}`` with a pidfd of the supervisor, so the host signals it
    safely against pid reuse; when it exits, ``{"exited": pid, "status": <wait status>}``.
    """
    import json
    import socket

    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != host:
        os._exit(137)
    channel = socket.socket(fileno=sock_fd)  # SOCK_SEQPACKET: one message a request, its descriptors with it
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda _n, _f: None)
    signal.set_wakeup_fd(wake_write)
    children: set[int] = set()
    while True:
        readable, _, _ = select.select([sock_fd, wake_read], [], [], 1.0)
        if wake_read in readable:
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
        while children:  # report each supervisor that ended (the host holds its pidfd: no pid reuse race)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            children.discard(pid)
            channel.send(json.dumps({"exited": pid, "status": status}).encode())
        if os.getppid() != host:
            os._exit(137)
        if sock_fd not in readable:
            continue
        data, fds, _, _ = socket.recv_fds(channel, 1 << 20, 4)
        if not data:  # the host closed its end: it is going away
            os._exit(0)
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            _become_supervisor(request, fds)
            os._exit(127)  # supervise() never returns
        for fd in fds:
            os.close(fd)
        children.add(pid)
        pidfd = os.pidfd_open(pid)
        socket.send_fds(channel, [json.dumps({"pid": pid}).encode()], [pidfd])
        os.close(pidfd)


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[1] == "--serve":
        serve(int(argv[2]), int(argv[3]))
        return
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: _supervisor.py <host pid> <grace seconds> -- <command...>\n"
                         "       _supervisor.py --serve <host pid> <socket fd>\n")
        os._exit(2)
    supervise(int(argv[1]), float(argv[2]), argv[4:])


if __name__ == "__main__":
    main(sys.argv)
