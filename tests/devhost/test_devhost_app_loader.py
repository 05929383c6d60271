"""Indexing the sample app as the worker does, and classifying its functions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from amlite_devhost.app_loader import (
    ACTIVITY_TRIGGER,
    HTTP_TRIGGER,
    ORCHESTRATION_TRIGGER,
    TIMER_TRIGGER,
    LoadedApp,
    describe,
    load_app,
)


def test_every_function_is_classified(sample_app: LoadedApp) -> None:
    kinds = {f.name: f.trigger_type for f in sample_app.functions}
    assert kinds["chain"] == ORCHESTRATION_TRIGGER
    assert kinds["add_one"] == ACTIVITY_TRIGGER
    assert kinds["http_start"] == HTTP_TRIGGER
    assert kinds["tick"] == TIMER_TRIGGER
    assert set(sample_app.orchestrators) >= {"chain", "fan_out", "retry_orch", "approval", "parent", "counter"}
    assert set(sample_app.activities) >= {"hello", "add_one", "flaky", "async_double"}


def test_http_route_methods_auth_and_durable_client(sample_app: LoadedApp) -> None:
    start = next(f for f in sample_app.functions if f.name == "http_start")
    assert start.http is not None
    assert start.http.route == "orchestrators/{name}/{instance_id?}"
    assert start.http.methods == ("POST",)
    assert start.http.auth_level == "anonymous"
    assert start.http.trigger_param == "req"
    assert start.durable_client_params == ("client",)
    assert start.is_async
    items = next(f for f in sample_app.functions if f.name == "items")
    assert items.http is not None and items.http.methods == ("GET", "PUT")
    assert items.durable_client_params == ()
    assert not items.is_async


def test_timer_and_durable_names(sample_app: LoadedApp) -> None:
    tick = next(f for f in sample_app.functions if f.name == "tick")
    assert tick.timer is not None
    assert tick.timer.schedule == "* * * * * *"
    assert tick.timer.run_on_startup is False
    assert tick.timer.trigger_param == "timer"
    chain = next(f for f in sample_app.functions if f.name == "chain")
    assert chain.durable_name == "chain"
    assert hasattr(chain.func, "orchestrator_function")  # the DFApp handle, not the generator


def test_host_json_settings(sample_app: LoadedApp) -> None:
    assert sample_app.route_prefix == "api"
    assert sample_app.task_hub == "DevHostSample"


def test_activity_adapter_passes_input_by_binding_name(sample_app: LoadedApp) -> None:
    assert sample_app.activities["add_one"](41) == 42
    assert sample_app.activities["hello"]("x") == "Hello x"


def test_describe_lines(sample_app: LoadedApp) -> None:
    lines = {f.name: describe(f, "http://h/api") for f in sample_app.functions}
    assert lines["items"] == "items: [GET,PUT] http://h/api/items/{id:int}/{*rest}"
    assert lines["tick"] == "tick: timerTrigger (* * * * * *)"
    assert lines["chain"] == "chain: orchestrationTrigger"


def test_missing_function_app_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="function_app.py"):
        load_app(tmp_path)


def test_second_app_loads_beside_the_first(tmp_path: Path, sample_app: LoadedApp) -> None:
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='ping')\n"
        "def ping(req: func.HttpRequest) -> str:\n"
        "    return 'pong'\n")
    (tmp_path / "host.json").write_text('{"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}')
    other = load_app(tmp_path, import_name="amlite_devhost_tmp_function_app")
    assert [f.name for f in other.functions] == ["ping"]
    assert other.route_prefix == ""
    assert other.module is not sample_app.module
    assert str(tmp_path) not in sys.path  # private loads leave sys.path alone
