"""Step processes: started under a supervisor, streamed to a StepLog, stopped on cancel or timeout.

Every step process (a script step's ``python script.py``, a ParallelRunStep
worker) starts as the child of ``_supervisor.py``, which leads the step's own
process group and ends everything below it when the command exits, when the host
asks (cancel, timeout), and when the host dies (see that module). So no process
outlives its step: not a grandchild that ignores SIGTERM, not a child left behind
by a script that exited 0, not a step whose host was killed.

Supervisors are forked from one long-lived thread (``_Spawner``): the parent-death
signal fires when the *thread* that forked a process ends, and activity threads
come and go with the Functions host's thread pool. On Linux, a step whose output the
host pipes is instead forked by a fork server (``_ForkServer``, itself started by
``_Spawner``): the same supervisor code without an interpreter start per step.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline_core.execution.logs import StepLog

log = logging.getLogger("amlite.process")

SUPERVISOR = str(Path(__file__).with_name("_supervisor.py"))
WATCH_SECONDS = 0.5  # how often a running step's cancel check reads its rows
STOPPED_CANCELED, STOPPED_TIMEOUT, STOPPED_SUPERSEDED = "canceled", "timeout", "superseded"


class _Spawner:
    """Runs every ``Popen`` of a supervisor on one thread that lives as long as the process."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], tuple[Any, ...], dict[str, Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()  # a forked child inherits no thread, only its objects
                self._thread = threading.Thread(target=self._loop, args=(self._queue,), name="amlite-spawner",
                                                daemon=True)
                self._pid = os.getpid()
                self._thread.start()
            jobs = self._queue
        future: Future[subprocess.Popen[bytes]] = Future()
        jobs.put((future, args, kwargs))
        return future.result()

    @staticmethod
    def _loop(jobs: queue.SimpleQueue[tuple[Future[Any], tuple[Any, ...], dict[str, Any]]]) -> None:
        while True:
            future, args, kwargs = jobs.get()
            try:
                future.set_result(subprocess.Popen(*args, **kwargs))
            except BaseException as exc:  # handed to the caller, whose thread raises it
                future.set_exception(exc)


_spawner = _Spawner()


class ServedProcess:
    """A supervisor forked by the fork server: the part of ``Popen`` that running and stopping a step use.

    It is not this process's child, so it is signalled through a pidfd (safe against pid reuse) and
    its exit status arrives from the server, which reaps it.
    """

    def __init__(self, pid: int, pidfd: int, stdout: IO[bytes], stderr: IO[bytes]):
        self.pid = pid
        self.stdout: IO[bytes] | None = stdout
        self.stderr: IO[bytes] | None = stderr
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._exited = threading.Event()
        weakref.finalize(self, os.close, pidfd)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"step supervisor {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def exited(self, seconds: float) -> bool:
        return self._exited.wait(seconds)

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def _ended(self, code: int) -> None:
        self.returncode = code
        self._exited.set()

    @staticmethod
    def _all_lost(served: list[ServedProcess], seconds: float = 30.0) -> None:
        """The server is gone (its death took these supervisors, which ends their steps): wait for those ends,
        all at once, so one supervisor slow to die does not hold the others' steps for its whole wait."""
        waiting = {s._pidfd: s for s in served}
        deadline = time.monotonic() + seconds
        while waiting and (left := deadline - time.monotonic()) > 0:
            for fd in _readable(waiting, left):
                waiting.pop(fd)._ended(-signal.SIGKILL)
        for late in waiting.values():
            late._ended(-signal.SIGKILL)


class _ForkServer:
    """Forks step supervisors from one long-lived ``_supervisor.py --serve`` process (Linux, with pidfds).

    Why: a supervisor started as its own interpreter cost every step ~12 ms of CPU and of wall time
    (a chain's steps pay it in turn, a fan-out's steps on every core); a fork of the small, already
    started server costs about 1 ms. The server runs with an empty environment and dies with the
    host; the guarantees of ``_supervisor.py`` are the same, it is the same code.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: Any = None
        self._pid = 0
        self._pending: list[tuple[Future[ServedProcess], int, int]] = []
        self._live: dict[int, ServedProcess] = {}
        self.server_pid = 0  # the server process now serving (0: none yet)
        self.broken = not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")
                           and sys.platform.startswith("linux"))

    def _ensure(self) -> bool:
        import socket

        if self._sock is not None and self._pid == os.getpid():
            return True
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            server = _spawner.popen(
                [sys.executable, "-I", "-S", SUPERVISOR, "--serve", str(os.getpid()), str(child.fileno())],
                cwd="/", env={}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(child.fileno(),),
                start_new_session=True)
        except OSError as exc:
            log.warning("the step fork server did not start (%s); supervisors start as their own interpreters", exc)
            parent.close()
            self.broken = True
            return False
        finally:
            child.close()
        self._sock, self._pid, self._pending, self._live = parent, os.getpid(), [], {}
        self.server_pid = server.pid
        threading.Thread(target=self._read, args=(parent,), name="amlite-fork-server", daemon=True).start()
        return True

    def start(self) -> None:
        """Have a server running (where one can run), without a request."""
        with self._lock:
            if not self.broken:
                self._ensure()

    def spawn(self, argv: Sequence[str], cwd: Path | str, env: dict[str, str], grace: float) -> ServedProcess | None:
        """The supervised step, or None when the server cannot serve (the caller starts it the old way)."""
        import json
        import socket

        with self._lock:
            if self.broken or not self._ensure():
                return None
            out_read, out_write = os.pipe()
            err_read, err_write = os.pipe()
            future: Future[ServedProcess] = Future()
            self._pending.append((future, out_read, err_read))
            try:
                socket.send_fds(self._sock, [json.dumps({"argv": list(argv), "cwd": str(cwd), "env": env,
                                                         "grace": grace}).encode()], [out_write, err_write])
            except OSError as exc:
                self._pending.remove((future, out_read, err_read))
                os.close(out_read)
                os.close(err_read)
                if exc.errno != errno.EMSGSIZE:  # too big for one message (a huge environment): this step only
                    log.warning("the step fork server is gone (%s); the next step starts a new one", exc)
                    self._sock = None
                return None
            finally:
                os.close(out_write)
                os.close(err_write)
        return future.result(timeout=30)

    def _read(self, sock: Any) -> None:
        import json
        import socket

        while True:
            try:
                data, fds, _, _ = socket.recv_fds(sock, 4096, 1)
            except OSError:
                data, fds = b"", []
            if not data:
                break
            message = json.loads(data)
            with self._lock:
                if "pid" in message:
                    future, out_read, err_read = self._pending.pop(0)
                    served = ServedProcess(message["pid"], fds[0], open(out_read, "rb"),  # noqa: SIM115
                                           open(err_read, "rb"))  # noqa: SIM115 - closed by the pumps
                    self._live[served.pid] = served
                    future.set_result(served)
                else:
                    found = self._live.pop(message["exited"], None)
                    if found is not None:
                        found._ended(os.waitstatus_to_exitcode(message["status"]))
        with self._lock:  # the server died: its supervisors die with it (their parent-death signal)
            if self._sock is sock:
                self._sock = None
            pending, live = self._pending, list(self._live.values())
            self._pending, self._live = [], {}
        for future, out_read, err_read in pending:
            os.close(out_read)
            os.close(err_read)
            future.set_exception(OSError("the step fork server stopped"))
        ServedProcess._all_lost(live)


_fork_server = _ForkServer()


def start_fork_server() -> None:
    """Start the step fork server now, so the first step does not wait for its interpreter (a local engine
    calls this as it loads; elsewhere the first step starts it)."""
    _fork_server.start()


def start_supervised(argv: Sequence[str], cwd: Path | str, env: dict[str, str], grace: float,
                     stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
                     pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes] | ServedProcess:
    """Start ``argv`` under a supervisor in a new session; the handle is the supervisor's.

    A step whose output is piped to the host (no descriptors passed) is forked by the fork server;
    anything else, or where the server cannot run, starts a supervisor interpreter with ``Popen``.
    """
    if stdout is subprocess.PIPE and stderr is subprocess.PIPE and not pass_fds:
        served = _fork_server.spawn(argv, cwd, env, grace)
        if served is not None:
            return served
    command = [sys.executable, "-I", "-S", SUPERVISOR, str(os.getpid()), f"{grace:g}", "--", *argv]
    return _spawner.popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                          pass_fds=tuple(pass_fds), start_new_session=True)


def _sweep_group(process: subprocess.Popen[bytes] | ServedProcess) -> None:
    """After a supervisor was killed outright (it could not clean up): SIGKILL what is left in its group.

    Safe against pid reuse: Linux does not hand out a pid while a process group of that id exists.
    """
    if process.returncode == -signal.SIGKILL:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_supervised(process: subprocess.Popen[bytes] | ServedProcess, grace: float, now: bool = False) -> int | None:
    """End a supervised step: SIGTERM to all of it, SIGKILL after ``grace`` (``now``: SIGKILL at once).

    Returns the exit status; never returns while a process of the step is left.
    """
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGUSR1 if now else signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=(0 if now else grace) + 5)
        except subprocess.TimeoutExpired:  # the supervisor itself is stuck: end the group the blunt way
            log.warning("step supervisor %s did not stop its processes in time; killing its group", process.pid)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
    _sweep_group(process)
    return process.returncode


@dataclass
class ProcessResult:
    exit_code: int
    seconds: float
    stopped: str | None = None  # why amlite stopped it: "canceled", "timeout", "superseded"

    @property
    def canceled(self) -> bool:
        return self.stopped == STOPPED_CANCELED

    @property
    def timed_out(self) -> bool:
        return self.stopped == STOPPED_TIMEOUT


def _pump(stream: IO[bytes], log: StepLog, stderr: bool) -> None:
    for line in iter(stream.readline, b""):
        log.write(line, stderr=stderr)
    stream.close()


class _Watch:
    """Asks ``check`` every ``interval`` on its own thread whether the step must stop.

    A failed check (storage unreachable) is logged and asked again: it is never a reason to
    stop a healthy step. On its own thread so a check that hangs in the storage client's
    retries delays neither the timeout nor noticing the exit.
    """

    def __init__(self, check: Callable[[], str | None], interval: float, step_log: StepLog):
        self.check = check
        self.interval = interval
        self.step_log = step_log
        self.reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="amlite-step-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        failing_since: float | None = None
        while not self._done.wait(self.interval):
            try:
                reason = self.check()
            except Exception as exc:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    log.warning("the cancel check of a running step failed (%s: %s); the step keeps running "
                                "and the check is retried", type(exc).__name__, exc)
                    self.step_log.note("[amlite] storage is not answering; the step keeps running "
                                       "(its log and results are sent when storage is back)")
                continue
            if failing_since is not None:
                log.info("the cancel check of a running step works again after %.0f s",
                         time.monotonic() - failing_since)
                failing_since = None
            if reason:
                self.reason = reason
                self._done.set()
                return

    def close(self) -> None:
        self._done.set()


def _readable(fds: Iterable[int], seconds: float) -> list[int]:
    """Those of ``fds`` readable within ``seconds`` (none: the time ran out). With poll, not select: a busy host
    (a wide fan-out, many downloads) holds more than 1,024 descriptors, and select() refuses any numbered past
    FD_SETSIZE."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(max(0.0, seconds) * 1000)]


def _exit_waiter(process: subprocess.Popen[bytes] | ServedProcess) -> Callable[[float], bool]:
    """``wait(seconds) -> exited``, woken the moment the process exits.

    ``Popen.wait(timeout)`` polls with sleeps that grow to 50 ms, so a step that ends just after a
    poll was noticed up to 50 ms late, and every step of a chain paid it. A pidfd (Linux 5.3+) is
    readable when the process exits; elsewhere the polling wait stands in. A served supervisor's
    exit is an event set by the fork server's message.
    """
    if isinstance(process, ServedProcess):
        return process.exited
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        def polled(seconds: float) -> bool:
            try:
                process.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        return polled

    def woken(seconds: float) -> bool:
        if process.returncode is None and pidfd >= 0 and not _readable([pidfd], seconds):
            return False
        process.wait()  # exited: reaps at once
        return True
    weakref.finalize(woken, os.close, pidfd)
    return woken


def run_process(argv: list[str], cwd: Path, env: dict[str, str], log: StepLog,
                should_stop: Callable[[], str | None] | None = None, timeout: float | None = None,
                grace: float = 2.0, poll_seconds: float = WATCH_SECONDS) -> ProcessResult:
    """Run ``argv`` to its end, or until ``should_stop`` names a reason or ``timeout`` seconds pass.

    Whatever ends it, every process it started is gone when this returns.
    """
    started = time.monotonic()
    process = start_supervised(argv, cwd, env, grace)
    assert process.stdout is not None and process.stderr is not None
    pumps = [threading.Thread(target=_pump, args=(process.stdout, log, False), daemon=True),
             threading.Thread(target=_pump, args=(process.stderr, log, True), daemon=True)]
    for pump in pumps:
        pump.start()
    watch = _Watch(should_stop, poll_seconds, log) if should_stop is not None else None
    stopped: str | None = None
    exited = _exit_waiter(process)
    try:
        while True:
            if exited(0.1):
                break
            if watch is not None and watch.reason:
                stopped = watch.reason
                log.note({STOPPED_CANCELED: "[amlite] cancel requested: stopping the step's processes",
                          STOPPED_SUPERSEDED: "[amlite] a newer attempt of this step started elsewhere: "
                                              "stopping this one"}.get(stopped, f"[amlite] stopping: {stopped}"))
                stop_supervised(process, grace)
                break
            if timeout is not None and time.monotonic() - started > timeout:
                stopped = STOPPED_TIMEOUT
                log.note(f"[amlite] the step timed out after {timeout:g} s: stopping its processes")
                stop_supervised(process, grace)
                break
    finally:
        if watch is not None:
            watch.close()
        # Normal exit included: the supervisor has ended the script's leftovers by now; on an error
        # here, never leave the script running.
        stop_supervised(process, grace, now=process.poll() is None)
        for pump in pumps:
            pump.join(timeout=5)
    return ProcessResult(process.returncode if process.returncode is not None else -1,
                         time.monotonic() - started, stopped)
