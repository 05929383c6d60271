"""``DevHost``: load a Functions app and run it locally without Core Tools.

Pieces and how they connect::

    DevHost.start()
      ├─ app_loader.load_app(app_dir)        function_app.app -> FunctionInfo list
      ├─ DurableEngine.from_app(...)         orchestrators/activities; history stored in AzureWebJobsStorage
      ├─ ResumeSweeper                       adopts a dead host's orchestrations (and runs), every 15 s
      ├─ event loop thread (asyncio, shared by all hosts in the process)
      │    ├─ main site  host:port           /api/... HTTP triggers (HttpTriggerHost)
      │    │                                 /runtime/webhooks/durabletask/... (ManagementApi, system key)
      │    └─ RPC site   127.0.0.1:rpc_port  /{token}/durabletask/... (ManagementApi) = rpcBaseUrl
      ├─ TimerTriggerRunner                  timerTrigger functions on their schedules
      └─ BlobTriggerRunner                   blobTrigger functions: their containers polled every 0.5 s

HTTP functions with ``durable_client_input`` receive the client binding JSON
(:func:`~amlite_devhost.durable.rpc.client_binding_json`); the real
``DurableOrchestrationClient`` then calls the RPC site, which drives the
engine.  ``start()``/``stop()`` work from tests and background threads;
``serve_forever()`` blocks until Ctrl+C / SIGTERM, then stops gracefully:
no new requests, running activities get ``shutdown_grace`` seconds (a
second Ctrl+C cuts it short), what they finish is kept, and what is left
stays stored for the next host to resume.

The system key (``AMLITE_SYSTEM_KEY``, else generated at start and printed
once by ``main``) guards the management routes; links the host builds start
with the public base URL (the app's configured URL, else a trusted proxy's
``X-Forwarded-Host`` as the app judges it, else the listening address), never the
``Host`` header. The host knows nothing of what the app does: its URL settings,
its storage clients and what it settles after a resume sweep are handed in
(amlite composes them in ``amlite_local.host``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from .app_loader import BLOB_TRIGGER, LoadedApp, describe, load_app, load_local_settings
from .blob_triggers import BlobTriggerRunner
from .durable.engine import SCHEMA_V3, DurableEngine
from .durable.rpc import (
    WEBHOOK_PREFIX,
    ManagementApi,
    client_binding_json,
    create_rpc_app,
    create_webhook_app,
    reset_sdk_http_session,
    rpc_prefix,
)
from .durable.store import OrchestrationStore
from .http_host import MAX_BODY_BYTES, REQUEST_BASE_URL, HttpTriggerHost, JsonErrorAppRunner, json_errors
from .invoker import FunctionInvoker
from .owners import process_identity
from .resume import ResumeSweeper, SweepHook
from .settings import DEFAULT_SHUTDOWN_GRACE as DEFAULT_SHUTDOWN_GRACE
from .settings import SHUTDOWN_GRACE_ENV as SHUTDOWN_GRACE_ENV
from .settings import SYSTEM_KEY_SETTING as SYSTEM_KEY_SETTING
from .settings import DevHostSettings
from .shutdown import exit_now
from .storage import Account, AccountFactory
from .timers import TimerTriggerRunner
from .worker_index import AppRefusedByWorker, WorkerLoaderMissing

logger = logging.getLogger("amlite.devhost")

#: The host's system key for the Durable management routes; generated at start when unset.
STORAGE_SETTING = "AzureWebJobsStorage"

#: The configured public base URL of the host, if any (an app's setting); raises ValueError when unreadable.
ConfiguredUrl = Callable[[], "str | None"]
#: The base URL a trusted proxy's ``X-Forwarded-*`` headers name, from (headers, peer address); else None.
ForwardedUrl = Callable[[Mapping[str, str], "str | None"], "str | None"]
#: Given the engine and this host's owner id, a hook the resume sweeper runs after each adoption (or None).
SweepHookFactory = Callable[["DurableEngine", str], "SweepHook | None"]
#: ``(exit code or None, messages for stderr)`` for serving on a host address; an app's exposure policy.
ExposureCheck = Callable[[str], "tuple[int | None, list[str]]"]


def _no_url(*_: Any) -> str | None:
    return None


def shutdown_grace(value: float | None = None) -> float:
    """Seconds running activities get on SIGTERM/Ctrl+C: ``value``, else ``AMLITE_SHUTDOWN_GRACE``, else 20."""
    return DevHostSettings.from_env(shutdown_grace=value).shutdown_grace_seconds


def _bind(host: str, port: int) -> socket.socket:
    """Bind before serving so port 0 works and a busy port fails loudly and early."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}); is another host running? "
                      "Pick another port with --port") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _SharedLoop:
    """One asyncio loop thread per process, shared by every DevHost.

    azure-functions-durable keeps a process-wide aiohttp session; it is only
    usable from the loop that created it, so all hosts in a process (tests
    run several) must run their async code on the same loop.  Reference
    counted: the last host to stop closes the SDK session and the loop.
    """

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _users = 0

    @classmethod
    def acquire(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                cls._thread = threading.Thread(target=run, name="amlite-devhost-loop", daemon=True)
                cls._thread.start()
                ready.wait(5)
                cls._loop = loop
            cls._users += 1
            return cls._loop

    @classmethod
    def release(cls) -> None:
        # Tear down under the lock so a host starting meanwhile gets a fresh
        # loop and a fresh SDK session, never the dying ones.
        with cls._lock:
            cls._users -= 1
            if cls._users > 0 or cls._loop is None:
                return
            loop, thread = cls._loop, cls._thread
            cls._loop, cls._thread = None, None
            try:
                asyncio.run_coroutine_threadsafe(reset_sdk_http_session(), loop).result(5)
            except Exception:
                logger.debug("closing the SDK HTTP session failed", exc_info=True)
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
                loop.close()


class DevHost:
    """Run a Functions app in-process: HTTP triggers, timers, blob triggers and durable orchestrations."""

    def __init__(self, app_dir: str | Path = ".", host: str = "127.0.0.1", port: int = 7071, *,
                 rpc_port: int = 0, max_workers: int | None = None, http_workers: int = 8,
                 enable_timers: bool = True, enable_blob_triggers: bool = True, load_settings: bool = True,
                 schema_version: int = SCHEMA_V3, app: LoadedApp | None = None,
                 system_key: str | None = None, persist: bool | None = None,
                 shutdown_grace: float | None = None, resume_interval: float | None = None,
                 configured_url: ConfiguredUrl = _no_url, forwarded_url: ForwardedUrl = _no_url,
                 account: AccountFactory = Account, sweep_hook: SweepHookFactory | None = None,
                 owner: str | None = None) -> None:
        """The app, its address and its triggers; the keyword-only hooks let an app compose what the host
        cannot know (its public URL settings, its storage clients, state to settle after a resume sweep)."""
        self.app_dir = Path(app_dir).resolve()
        self.host = host
        self.port = port
        self.rpc_port = rpc_port
        self.max_workers = max_workers
        self.http_workers = http_workers
        self.enable_timers = enable_timers
        self.enable_blob_triggers = enable_blob_triggers
        self.load_settings = load_settings
        self.schema_version = schema_version
        self.app: LoadedApp | None = app
        self.persist = persist  # None: when AzureWebJobsStorage is set, as Durable's storage provider needs it
        self.shutdown_grace = shutdown_grace
        self.resume_interval = resume_interval
        self.configured_url = configured_url
        self.forwarded_url = forwarded_url
        self.account = account
        self.sweep_hook = sweep_hook
        self.owner = owner or process_identity()
        self.engine: DurableEngine | None = None
        self.sweeper: ResumeSweeper | None = None
        self.timers: TimerTriggerRunner | None = None
        self.blobs: BlobTriggerRunner | None = None
        self.http: HttpTriggerHost | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._runners: list[web.AppRunner] = []
        self._stopped = threading.Event()
        self._system_key = system_key
        self.system_key_generated = False
        #: The RPC site's secret path segment: only the client binding carries it.
        self._rpc_token = secrets.token_urlsafe(24)

    # ---------------------------------------------------------------- URLs

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_base_url(self) -> str:
        """Where clients reach this host: the configured URL (``configured_url``), else :attr:`base_url`."""
        try:
            return self.configured_url() or self.base_url
        except ValueError as exc:
            logger.error("%s", exc)
            return self.base_url

    def request_base_url(self, request: web.Request) -> str:
        """The base of the URL a function sees: configured, else a trusted proxy's ``X-Forwarded-*``, else ours.

        A URL setting that became unreadable while serving falls back to ours; the app names it in its answer.
        """
        try:
            return self.configured_url() or self.forwarded_url(request.headers, request.remote) or self.base_url
        except ValueError as exc:
            logger.error("%s", exc)
            return self.base_url

    @property
    def rpc_base_url(self) -> str:
        """The Durable client's RPC base; its secret path segment is the credential (see ``durable.rpc``)."""
        return f"http://127.0.0.1:{self.rpc_port}{rpc_prefix(self._rpc_token)}/"

    @property
    def system_key(self) -> str:
        """``AMLITE_SYSTEM_KEY`` (read at first use, after local.settings.json), else one generated for this run."""
        if self._system_key is None:
            configured = DevHostSettings.from_env().system_key
            self.system_key_generated = not configured
            self._system_key = configured or secrets.token_urlsafe(32)
        return self._system_key

    def client_binding_json(self) -> str:
        """What a ``durable_client_input`` parameter receives; links use the current request's base URL."""
        assert self.app is not None
        return client_binding_json(rpc_base_url=self.rpc_base_url,
                                   public_base_url=REQUEST_BASE_URL.get() or self.public_base_url,
                                   task_hub=self.app.task_hub, system_key=self.system_key)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> DevHost:
        """Load the app and start serving; returns once both sockets listen."""
        began = time.perf_counter()
        if self.load_settings:
            load_local_settings(self.app_dir)
        if self.app is None:
            self.app = load_app(self.app_dir)
        app = self.app
        main_sock = _bind(self.host, self.port)
        try:
            rpc_sock = _bind("127.0.0.1", self.rpc_port)
        except OSError:
            main_sock.close()
            raise
        self.port = main_sock.getsockname()[1]
        self.rpc_port = rpc_sock.getsockname()[1]
        try:
            self._start_services(app, main_sock, rpc_sock)
        except BaseException:
            main_sock.close()
            rpc_sock.close()
            self.stop()
            raise
        self._log_functions()
        logger.info("Host started (%.0f ms): %s  (durable RPC on 127.0.0.1:%d)",
                    (time.perf_counter() - began) * 1000, self.base_url, self.rpc_port)
        return self

    def _start_services(self, app: LoadedApp, main_sock: socket.socket, rpc_sock: socket.socket) -> None:
        loop = _SharedLoop.acquire()
        self._loop = loop
        self._executor = concurrent.futures.ThreadPoolExecutor(self.http_workers, thread_name_prefix="amlite-http")
        # Activity workers: explicit, else host.json's maxConcurrentActivityFunctions, else 8.
        workers = self.max_workers or app.max_concurrent_activities or 8
        store = self._store(app)
        self.engine = DurableEngine.from_app(app, max_workers=workers, schema_version=self.schema_version,
                                             loop=loop, store=store)
        invoker = FunctionInvoker(loop, self._executor, self.client_binding_json, str(self.app_dir))
        self.http = HttpTriggerHost(app.functions, invoker, app.route_prefix, base_url_for=self.request_base_url)
        api = ManagementApi(self.engine, lambda: self.public_base_url, app.task_hub, system_key=self.system_key)
        asyncio.run_coroutine_threadsafe(self._serve(api, main_sock, rpc_sock), loop).result(10)
        if self.enable_timers and app.timer_functions:
            self.timers = TimerTriggerRunner(app.timer_functions, invoker.invoke_threadsafe)
            self.timers.start()
        if self.enable_blob_triggers and app.by_type(BLOB_TRIGGER):
            self.blobs = BlobTriggerRunner(app.by_type(BLOB_TRIGGER), invoker.invoke_threadsafe)
            self.blobs.start()
        self._start_sweeper(store)

    def _store(self, app: LoadedApp) -> OrchestrationStore | None:
        """Orchestration state in ``AzureWebJobsStorage`` (as the Durable extension keeps it), under the
        app's task hub; without that setting (or with ``persist=False``) it lives in memory."""
        storage = os.environ.get(STORAGE_SETTING, "")
        if self.persist is False or (self.persist is None and not storage):
            if self.persist is None:
                logger.warning("%s is not set: orchestrations are kept in memory and a restarted host cannot "
                               "resume them", STORAGE_SETTING)
            return None
        return OrchestrationStore(storage or "UseDevelopmentStorage=true", app.task_hub, owner=self.owner,
                                  account=self.account)

    def _start_sweeper(self, store: OrchestrationStore | None) -> None:
        """Resume what dead hosts left: their orchestrations, then whatever the app's ``sweep_hook`` settles."""
        assert self.engine is not None
        hook = self.sweep_hook(self.engine, self.owner) if self.sweep_hook is not None else None
        if store is None and hook is None:
            return
        self.sweeper = ResumeSweeper(self.engine, self.owner, self.resume_interval, on_sweep=hook).start()

    async def _serve(self, api: ManagementApi, main_sock: socket.socket, rpc_sock: socket.socket) -> None:
        assert self.http is not None
        main = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors()])
        main.add_subapp(WEBHOOK_PREFIX, create_webhook_app(api, self.system_key))
        # [\s\S], not ".": a path may hold an encoded newline (%0A), which "." would leave to aiohttp's plain 404
        main.router.add_route("*", r"/{tail:[\s\S]*}", self.http.handle)
        for application, sock in ((main, main_sock), (create_rpc_app(api, self._rpc_token), rpc_sock)):
            runner = JsonErrorAppRunner(application, access_log=None, handle_signals=False, shutdown_timeout=10.0)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            self._runners.append(runner)

    async def _shutdown_servers(self) -> None:
        # The main site first: a request in flight may still start an orchestration through the RPC site.
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def stop(self, grace: float | None = None, hurry: threading.Event | None = None) -> bool:
        """Stop triggers, servers and the engine; release the shared loop. Idempotent.

        With ``grace`` (seconds), a graceful stop: once no request is served, running activities may finish
        (and what they finish is recorded) until the grace ends or ``hurry`` is set. Returns False when
        activities were still running at the end: their instances stay stored for the next host, which runs
        those activities again; the caller should then stop their processes (``shutdown.exit_now``).
        """
        if self._stopped.is_set():
            return True
        self._stopped.set()
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.timers is not None:
            self.timers.stop()
        if self.blobs is not None:
            self.blobs.stop()
        loop = self._loop
        if loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown_servers(), loop).result(15)
            except Exception:
                logger.exception("error while stopping the servers")
        finished = True
        if self.engine is not None:
            if grace:
                finished = self._drain(self.engine, grace, hurry)
            self.engine.shutdown(wait=False)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if loop is not None:
            self._loop = None
            _SharedLoop.release()
        logger.info("Host stopped")
        return finished

    @staticmethod
    def _drain(engine: DurableEngine, grace: float, hurry: threading.Event | None) -> bool:
        busy = engine.running_activities
        if busy:
            logger.info("Stopping: %d running activit%s may finish within %.0f s (Ctrl+C again to stop now)",
                        busy, "y" if busy == 1 else "ies", grace)
        deadline = time.monotonic() + grace
        while True:
            if engine.drain(min(0.25, max(0.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline or (hurry is not None and hurry.is_set()):
                engine.abandon()
                left = engine.running_activities
                logger.warning("Stopping: %d activit%s still running; %s", left, "y" if left == 1 else "ies",
                               "the next host on this storage runs those again" if engine.store is not None
                               else "their runs end Failed when the next host starts (no AzureWebJobsStorage)")
                return False

    def serve_forever(self) -> bool:
        """Start (if needed) and block until interrupted, then stop gracefully (see :meth:`stop`).

        Returns False when the grace period ended with activities still running (see ``stop``)."""
        if self._loop is None:
            self.start()
        done = threading.Event()
        hurry = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            if done.is_set():
                hurry.set()
            done.set()

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            while not done.wait(0.5) and not self._stopped.is_set():
                pass
            return self.stop(shutdown_grace(self.shutdown_grace), hurry)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_functions(self) -> None:
        assert self.app is not None and self.http is not None
        logger.info("Functions:")
        for info in self.app.functions:
            if info.http is not None:
                line = f"{info.name}: [{','.join(info.http.methods)}] {self.http.url_for(info, self.base_url)}"
            else:
                line = describe(info)
            if info.trigger_type == BLOB_TRIGGER:
                line += f"  ({info.trigger.get('path')}, polled)" if self.blobs is not None else "  (not served)"
            if info.unsupported_bindings:
                line += f"  (bindings not provided: {', '.join(info.unsupported_bindings)})"
            logger.info("    %s", line)


def main(argv: list[str] | None = None, before_exit: Callable[[], None] | None = None, *,
         check_exposure: ExposureCheck | None = None,
         make_host: Callable[..., DevHost] | None = None, prog: str = "python -m amlite_devhost") -> int:
    """``python -m amlite_devhost`` (and, composed by an app, ``amlite dev``): serve a Functions app until
    Ctrl+C or SIGTERM.

    Exit codes: 0 stopped, 1 could not start, 2 refused configuration (``check_exposure``'s verdict, an
    unreadable setting). ``before_exit`` runs before an immediate exit (steps still running at the end of
    the grace period), for clean-up the caller would otherwise do after ``main`` returns (``amlite dev``
    stops its Azurite). ``make_host`` builds the host from :class:`DevHost`'s arguments (an app passes its
    composed host); ``check_exposure`` is the app's policy for the listening address.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Run a Functions app locally "
                                     "(HTTP triggers, timers, durable orchestrations) without Core Tools.")
    parser.add_argument("app_dir", nargs="?", default=".", help="Functions app root (contains function_app.py)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; others need AMLITE_AUTH other than none)")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--rpc-port", type=int, default=0, help="durable RPC port (default: any free port)")
    parser.add_argument("--workers", type=int, default=None,
                        help="activity worker threads (default: host.json maxConcurrentActivityFunctions, else 8)")
    parser.add_argument("--no-timers", action="store_true", help="do not fire timer triggers")
    parser.add_argument("--no-blob-triggers", action="store_true", help="do not poll containers for blob triggers")
    parser.add_argument("--shutdown-grace", type=float, default=None, metavar="SECONDS",
                        help=f"on Ctrl+C / SIGTERM, how long running activities may finish (default: "
                             f"{SHUTDOWN_GRACE_ENV} or {DEFAULT_SHUTDOWN_GRACE:.0f})")
    parser.add_argument("--resume-interval", type=float, default=None, metavar="SECONDS",
                        help="how often to look for orchestrations and runs of stopped hosts to resume "
                             "(default: AMLITE_RESUME_INTERVAL or 15)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        load_local_settings(args.app_dir)  # existing variables win; the checks below see the app's settings
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if check_exposure is not None:
        refused, messages = check_exposure(args.host)
        for message in messages:
            print(message, file=sys.stderr)
        if refused is not None:
            return refused
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    if not args.verbose:  # the Azure SDKs log every storage request at INFO: noise, and slow under load
        logging.getLogger("azure").setLevel(logging.WARNING)
    host = (make_host or DevHost)(args.app_dir, args.host, args.port, rpc_port=args.rpc_port, max_workers=args.workers,
                   enable_timers=not args.no_timers, enable_blob_triggers=not args.no_blob_triggers,
                   shutdown_grace=args.shutdown_grace, resume_interval=args.resume_interval)
    try:
        host.start()
        if host.system_key_generated:
            print(f"{prog}: system key for {WEBHOOK_PREFIX}/... (send as ?code= or x-functions-key): "
                  f"{host.system_key}\n  generated for this run; set {SYSTEM_KEY_SETTING} to choose it",
                  file=sys.stderr, flush=True)
        finished = host.serve_forever()
    except (OSError, ImportError, ValueError, AppRefusedByWorker, WorkerLoaderMissing) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    if not finished:  # steps outlived the grace: stop them and leave before their activities record anything
        if before_exit is not None:
            before_exit()
        exit_now(0)
    return 0
