"""Load a Functions app (Python v2 model) and index it the way the worker does.

The Python worker imports ``function_app.py`` from the app root and calls
``app.get_functions()``; each returned ``Function`` carries one trigger and
its bindings.  We do the same so the dev host runs exactly the registered
code, then classify each function by trigger type so the HTTP host, the
timer runner and the durable engine each pick what they serve.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .worker_index import index_like_worker, worker_check_enabled

logger = logging.getLogger("amlite.devhost")

HTTP_TRIGGER = "httpTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
TIMER_TRIGGER = "timerTrigger"
BLOB_TRIGGER = "blobTrigger"
DURABLE_CLIENT = "durableClient"

ALL_HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")

# get_functions() is not idempotent (a second call trips its duplicate-name
# check), so remember the index per app object.
_INDEX_CACHE: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()


def _plain(value: Any) -> Any:
    """Turn the decorators' StringifyEnum values into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith("azure.functions"):
        return value.value if not isinstance(value.value, int) else str(value)
    return value


@dataclass(frozen=True)
class HttpInfo:
    """What the HTTP host needs: route template, allowed methods, auth level."""

    route: str
    methods: tuple[str, ...]
    auth_level: str
    trigger_param: str
    output_param: str | None = "$return"


@dataclass(frozen=True)
class TimerInfo:
    """An NCRONTAB (or TimeSpan) schedule as declared on the function."""

    schedule: str
    run_on_startup: bool = False
    use_monitor: bool | None = None
    trigger_param: str = "timer"


@dataclass
class FunctionInfo:
    """One indexed function: its trigger kind plus everything a host needs to call it."""

    name: str
    trigger_type: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    func: Callable[..., Any]
    http: HttpInfo | None = None
    timer: TimerInfo | None = None
    durable_client_params: tuple[str, ...] = ()
    # Orchestration / activity name as the durable extension sees it.
    durable_name: str | None = None
    trigger_param: str | None = None
    unsupported_bindings: tuple[str, ...] = ()
    raw: Any = field(default=None, repr=False)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def accepts(self, param: str) -> bool:
        """Whether the user function declares ``param`` (e.g. ``context``)."""
        try:
            return param in inspect.signature(self.func).parameters
        except (TypeError, ValueError):
            return False


@dataclass
class LoadedApp:
    """The indexed app, grouped by trigger type."""

    app: Any
    app_dir: Path | None
    functions: list[FunctionInfo]
    host_json: dict[str, Any] = field(default_factory=dict)
    module: Any = None

    def by_type(self, trigger_type: str) -> list[FunctionInfo]:
        return [f for f in self.functions if f.trigger_type == trigger_type]

    @property
    def http_functions(self) -> list[FunctionInfo]:
        return self.by_type(HTTP_TRIGGER)

    @property
    def timer_functions(self) -> list[FunctionInfo]:
        return self.by_type(TIMER_TRIGGER)

    @property
    def orchestrators(self) -> dict[str, Callable[[str], str]]:
        """Durable name -> the DFApp ``handle`` (context JSON in, state JSON out)."""
        out: dict[str, Callable[[str], str]] = {}
        for f in self.by_type(ORCHESTRATION_TRIGGER):
            out[f.name] = f.func
            if f.durable_name and f.durable_name != f.name:
                out[f.durable_name] = f.func
        return out

    @property
    def activities(self) -> dict[str, Callable[[Any], Any]]:
        """Durable name -> a one-argument callable taking the decoded activity input."""
        out: dict[str, Callable[[Any], Any]] = {}
        for f in self.by_type(ACTIVITY_TRIGGER):
            call = _activity_adapter(f)
            out[f.name] = call
            if f.durable_name and f.durable_name != f.name:
                out[f.durable_name] = call
        return out

    @property
    def route_prefix(self) -> str:
        """host.json ``extensions.http.routePrefix``; ``api`` when absent, like the host."""
        http = self.host_json.get("extensions", {}).get("http", {})
        prefix = http.get("routePrefix", "api")
        return str(prefix).strip("/") if prefix is not None else ""

    @property
    def max_concurrent_activities(self) -> int | None:
        """host.json ``extensions.durableTask.maxConcurrentActivityFunctions``, if set."""
        value = self.host_json.get("extensions", {}).get("durableTask", {}).get("maxConcurrentActivityFunctions")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def task_hub(self) -> str:
        durable = self.host_json.get("extensions", {}).get("durableTask", {})
        hub = durable.get("hubName") or "TestHubName"
        if isinstance(hub, str) and hub.startswith("%") and hub.endswith("%"):
            hub = os.environ.get(hub.strip("%"), "TestHubName")
        return str(hub)


def _activity_adapter(info: FunctionInfo) -> Callable[[Any], Any]:
    """Call an activity the way the worker does: input under its binding name."""
    param = info.trigger_param or "input"
    func = info.func
    wants_context = info.accepts("context") and param != "context"

    def call(value: Any) -> Any:
        kwargs: dict[str, Any] = {param: value}
        if wants_context:
            kwargs["context"] = InvocationContext(info.name)
        return func(**kwargs)

    call.__name__ = info.name
    call.__wrapped__ = func  # type: ignore[attr-defined]
    return call


class InvocationContext:
    """Minimal ``azure.functions.Context`` for functions that ask for ``context``."""

    def __init__(self, function_name: str, function_directory: str = "") -> None:
        import uuid

        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> type[threading.local]:
        return self._tls

    @property
    def trace_context(self) -> None:
        return None

    @property
    def retry_context(self) -> None:
        return None


def classify(function: Any) -> FunctionInfo:
    """Turn one ``azure.functions.Function`` into a :class:`FunctionInfo`."""
    name = function.get_function_name()
    trigger = function.get_trigger()
    bindings = [_plain(b.get_dict_repr()) for b in function.get_bindings()]
    trig = _plain(trigger.get_dict_repr()) if trigger is not None else {}
    ttype = str(trig.get("type", ""))
    info = FunctionInfo(
        name=name,
        trigger_type=ttype,
        trigger=trig,
        bindings=bindings,
        func=function.get_user_function(),
        trigger_param=trig.get("name"),
        raw=function,
    )
    info.durable_client_params = tuple(
        b["name"] for b in bindings if b.get("type") == DURABLE_CLIENT
    )
    if ttype == HTTP_TRIGGER:
        methods = trig.get("methods") or list(ALL_HTTP_METHODS)
        outs = [b["name"] for b in bindings if b.get("type") == "http" and b.get("direction") == "OUT"]
        info.http = HttpInfo(
            route=str(trig.get("route") or name),
            methods=tuple(str(m).upper() for m in methods),
            auth_level=str(trig.get("authLevel") or "function").lower(),
            trigger_param=str(trig.get("name") or "req"),
            output_param=outs[0] if outs else None,
        )
    elif ttype == TIMER_TRIGGER:
        info.timer = TimerInfo(
            schedule=str(trig.get("schedule", "")),
            run_on_startup=bool(trig.get("runOnStartup") or False),
            use_monitor=trig.get("useMonitor"),
            trigger_param=str(trig.get("name") or "timer"),
        )
    elif ttype == ORCHESTRATION_TRIGGER:
        info.durable_name = trig.get("orchestration") or name
    elif ttype == ACTIVITY_TRIGGER:
        info.durable_name = trig.get("activity") or name
    served = {HTTP_TRIGGER, "http", DURABLE_CLIENT, ttype}
    info.unsupported_bindings = tuple(
        f"{b.get('name')}:{b.get('type')}" for b in bindings if b.get("type") not in served
    )
    return info


def index_app(app: Any, app_dir: str | os.PathLike[str] | None = None) -> LoadedApp:
    """Index an already-imported app object (``FunctionApp`` / ``DFApp``).

    The real worker's checks run first (see :mod:`.worker_index`): an app the
    worker refuses is refused here too, with the worker's message, unless
    ``AMLITE_WORKER_CHECK=off``.
    """
    root = Path(app_dir).resolve() if app_dir is not None else None
    with _INDEX_LOCK:
        functions = _INDEX_CACHE.get(app)
        if functions is None:
            functions = app.get_functions()
            if worker_check_enabled():
                index_like_worker(functions, root)
            _INDEX_CACHE[app] = functions
    infos = [classify(f) for f in functions]
    return LoadedApp(app=app, app_dir=root, functions=infos, host_json=read_host_json(root))


def read_host_json(app_dir: Path | None) -> dict[str, Any]:
    """Read host.json if present; a broken file is a user mistake worth naming."""
    if app_dir is None:
        return {}
    path = app_dir / "host.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def load_local_settings(app_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Export local.settings.json ``Values`` to the environment, as ``func start`` does.

    Existing environment variables win, so a caller can override a setting.
    """
    path = Path(app_dir) / "local.settings.json"
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values", {}) or {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    applied: dict[str, str] = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


def _import_app_module(app_dir: Path, module: str, import_name: str | None) -> Any:
    """Import ``<app_dir>/<module>.py`` with ``app_dir`` on sys.path (sibling imports work).

    By default the module is registered as ``function_app``, as the worker
    does.  If a different ``function_app`` is already imported, or
    ``import_name`` is given (tests load several apps in one process), it is
    loaded under that private name and ``app_dir`` is taken off sys.path
    again, so later ``import function_app`` elsewhere is not redirected here.
    """
    path = app_dir / f"{module}.py"
    if not path.is_file():
        raise FileNotFoundError(f"No {module}.py in {app_dir}: the Functions app root must contain it")
    existing = sys.modules.get(import_name or module)
    if existing is not None:
        existing_file = getattr(existing, "__file__", None)
        if existing_file and Path(existing_file).resolve() == path.resolve():
            return existing
    if import_name is None and existing is not None:
        import_name = f"_amlite_devhost_app_{abs(hash(str(path.resolve())))}"
        if import_name in sys.modules:
            return sys.modules[import_name]
    module_name = import_name or module
    added = str(app_dir) not in sys.path
    if added:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        if added and module_name != module and str(app_dir) in sys.path:
            sys.path.remove(str(app_dir))
    return mod


def load_app(app_dir: str | os.PathLike[str] = ".", module: str = "function_app",
             attr: str = "app", *, import_name: str | None = None) -> LoadedApp:
    """Import ``function_app.app`` from ``app_dir`` and index its functions.

    ``import_name`` loads the module under a private name, for processes
    that load more than one app (tests).
    """
    root = Path(app_dir).resolve()
    mod = _import_app_module(root, module, import_name)
    app = getattr(mod, attr, None)
    if app is None:
        raise AttributeError(f"{root / (module + '.py')} defines no '{attr}' (expected e.g. app = df.DFApp())")
    loaded = index_app(app, root)
    loaded.module = mod
    return loaded


def describe(info: FunctionInfo, base_url: str = "") -> str:
    """One line per function, in the spirit of ``func start``'s listing."""
    if info.http is not None:
        methods = ",".join(info.http.methods)
        return f"{info.name}: [{methods}] {base_url}/{info.http.route}"
    if info.timer is not None:
        return f"{info.name}: timerTrigger ({info.timer.schedule})"
    return f"{info.name}: {info.trigger_type}"
