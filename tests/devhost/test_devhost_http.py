"""The dev host over real sockets: HTTP triggers, the durable client, the management API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from amlite_devhost.app_loader import LoadedApp
from amlite_devhost.server import DevHost

TIMEOUT = 5


def poll(url: str, timeout: float = TIMEOUT) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, timeout=TIMEOUT)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def start(devhost: DevHost, name: str, payload: Any = None, instance_id: str | None = None) -> dict[str, Any]:
    url = f"{devhost.base_url}/api/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    response = requests.post(url, json=payload, timeout=TIMEOUT)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == response.json()["statusQueryGetUri"]
    return dict(response.json())


def test_route_params_query_headers_body(devhost: DevHost) -> None:
    response = requests.put(f"{devhost.base_url}/api/items/7/a/b%20c?x=1&y=2", data=b"payload",
                            headers={"x-test": "hdr"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["X-Echo"] == "1"
    assert response.headers["Content-Type"].startswith("application/json")
    echo = response.json()
    assert echo["method"] == "PUT"
    assert echo["route"] == {"id": "7", "rest": "a/b c"}
    assert echo["query"] == {"x": "1", "y": "2"}
    assert echo["header"] == "hdr"
    assert echo["body"] == "payload"
    assert echo["url"] == f"{devhost.base_url}/api/items/7/a/b%20c?x=1&y=2"


def test_literal_route_precedence_and_str_result(devhost: DevHost) -> None:
    response = requests.get(f"{devhost.base_url}/api/items/special", timeout=TIMEOUT)
    assert response.status_code == 200 and response.text == "literal route wins"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_async_function(devhost: DevHost) -> None:
    assert requests.get(f"{devhost.base_url}/api/hello/ana", timeout=TIMEOUT).text == "hi ana"


def test_404_405_500(devhost: DevHost) -> None:
    assert requests.get(f"{devhost.base_url}/api/items/notanint", timeout=TIMEOUT).status_code == 404
    assert requests.get(f"{devhost.base_url}/elsewhere", timeout=TIMEOUT).status_code == 404
    wrong = requests.post(f"{devhost.base_url}/api/items/7", timeout=TIMEOUT)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, PUT"
    boom = requests.get(f"{devhost.base_url}/api/boom", timeout=TIMEOUT)
    assert boom.status_code == 500
    error = boom.json()["error"]
    assert error["code"] == "FunctionInvocationError"
    assert "RuntimeError: kaboom" in error["message"]


def test_http_starter_and_check_status_response(devhost: DevHost) -> None:
    links = start(devhost, "chain", 3)
    assert links["statusQueryGetUri"].startswith(f"{devhost.base_url}/runtime/webhooks/durabletask/instances/")
    status = poll(links["statusQueryGetUri"])
    assert status.status_code == 200
    body = status.json()
    assert body["runtimeStatus"] == "Completed"
    assert body["output"] == {"value": 10, "greeting": "Hello 10"}
    assert body["input"] == 3
    assert body["customStatus"] == {"step": 4}


def test_sdk_get_status_through_rpc(devhost: DevHost) -> None:
    links = start(devhost, "fan_out", 10, instance_id="http-fan")
    assert links["id"] == "http-fan"
    poll(links["statusQueryGetUri"])
    status = requests.get(f"{devhost.base_url}/api/status/http-fan", timeout=TIMEOUT).json()
    assert status["runtimeStatus"] == "Completed" and status["output"] == 55
    assert status["instanceId"] == "http-fan" and status["input"] == 10
    assert requests.get(f"{devhost.base_url}/api/status/missing", timeout=TIMEOUT).status_code == 404


def test_sdk_raise_event_terminate_purge(devhost: DevHost) -> None:
    start(devhost, "approval", 30, instance_id="http-appr")
    raised = requests.post(f"{devhost.base_url}/api/events/http-appr/Approve", json={"by": "sdk"}, timeout=TIMEOUT)
    assert raised.status_code == 202
    status = poll(f"{devhost.base_url}/runtime/webhooks/durabletask/instances/http-appr?code={devhost.system_key}")
    assert status.json()["output"] == {"approved": True, "by": {"by": "sdk"}}

    start(devhost, "approval", 30, instance_id="http-term")
    assert requests.post(f"{devhost.base_url}/api/manage/http-term?reason=stop%20it",
                         timeout=TIMEOUT).status_code == 202
    body = poll(f"{devhost.base_url}/api/status/http-term").json()
    assert body["runtimeStatus"] == "Terminated" and body["output"] == "stop it"
    assert requests.delete(f"{devhost.base_url}/api/manage/http-term", timeout=TIMEOUT).json() == {"deleted": 1}
    assert requests.delete(f"{devhost.base_url}/api/manage/http-term", timeout=TIMEOUT).json() == {"deleted": 0}


def test_duplicate_start_is_a_clean_error(devhost: DevHost) -> None:
    start(devhost, "approval", 30, instance_id="http-dup")
    again = requests.post(f"{devhost.base_url}/api/orchestrators/approval/http-dup", json=30, timeout=TIMEOUT)
    assert again.status_code == 500
    assert "already exists and is Running" in again.json()["error"]["message"]
    requests.post(f"{devhost.base_url}/api/manage/http-dup", timeout=TIMEOUT)


def test_management_links_and_webhooks(devhost: DevHost) -> None:
    links = requests.get(f"{devhost.base_url}/api/links/abc", timeout=TIMEOUT).json()
    assert links["id"] == "abc"
    assert links["sendEventPostUri"].endswith("/instances/abc/raiseEvent/{eventName}?taskHub=DevHostSample"
                                              f"&connection=Storage&code={devhost.system_key}")
    info = start(devhost, "approval", 30)
    send = info["sendEventPostUri"].replace("{eventName}", "Approve")
    assert requests.post(send, json="curl", timeout=TIMEOUT).status_code == 202
    assert poll(info["statusQueryGetUri"]).json()["output"] == {"approved": True, "by": "curl"}
    gone = requests.post(send, json="late", timeout=TIMEOUT)
    assert gone.status_code == 410
    info = start(devhost, "approval", 30)
    terminate = info["terminatePostUri"].replace("{text}", "bye")
    assert requests.post(terminate, timeout=TIMEOUT).status_code == 202
    assert poll(info["statusQueryGetUri"]).json()["runtimeStatus"] == "Terminated"
    history = requests.get(info["statusQueryGetUri"] + "&showHistory=true", timeout=TIMEOUT).json()
    assert history["historyEvents"][1]["EventType"] == "ExecutionStarted"


def test_rpc_listing_and_unknown_orchestrator(devhost: DevHost) -> None:
    rpc = devhost.rpc_base_url
    start(devhost, "chain", 1, instance_id="rpc-list-1")
    poll(f"{rpc}instances/rpc-list-1")
    listed = requests.get(f"{rpc}instances/?instanceIdPrefix=rpc-list-&runtimeStatus=Completed", timeout=TIMEOUT)
    assert [s["instanceId"] for s in listed.json()] == ["rpc-list-1"]
    created = requests.post(f"{rpc}orchestrators/chain", data=json.dumps(json.dumps(5)), timeout=TIMEOUT)
    assert created.status_code == 202
    assert poll(f"{rpc}instances/{created.json()['id']}").json()["output"]["value"] == 14
    missing = requests.post(f"{rpc}orchestrators/nope", timeout=TIMEOUT)
    assert missing.status_code == 400 and "doesn't exist" in missing.json()["ExceptionMessage"]
    assert requests.post(f"{rpc}instances/x/suspend", timeout=TIMEOUT).status_code == 501


def test_timer_trigger_fires(devhost: DevHost, sample_app: LoadedApp) -> None:
    ticks = sample_app.module.TICKS
    deadline = time.monotonic() + 3
    while not ticks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ticks and ticks[0] is False  # fired on schedule, not past due


def test_restart_on_a_new_loop_and_fast_startup(sample_app: LoadedApp) -> None:
    """Stop/start twice in one process: the SDK's shared HTTP session must follow the new loop."""
    app_dir = Path(__file__).parent / "sample_app"
    for _ in range(2):
        began = time.perf_counter()
        host = DevHost(app_dir, port=0, app=sample_app, enable_timers=False).start()
        try:
            assert time.perf_counter() - began < 2.0
            links = start(host, "chain", 0)
            assert poll(links["statusQueryGetUri"]).json()["output"]["value"] == 4
            assert requests.get(f"{host.base_url}/api/status/{links['id']}", timeout=TIMEOUT).status_code == 200
        finally:
            host.stop()


def test_sdk_listing_and_purge_by(devhost: DevHost) -> None:
    links = start(devhost, "chain", 1, instance_id="list-me")
    poll(links["statusQueryGetUri"])
    start(devhost, "approval", 30, instance_id="list-running")
    listed = requests.get(f"{devhost.base_url}/api/instances", timeout=TIMEOUT).json()
    assert {"list-me", "list-running"} <= set(listed["all"])
    assert "list-me" in listed["completed"] and "list-running" not in listed["completed"]
    deleted = requests.delete(f"{devhost.base_url}/api/instances", timeout=TIMEOUT).json()["deleted"]
    assert deleted >= 1
    after = requests.get(f"{devhost.base_url}/api/instances", timeout=TIMEOUT).json()
    assert "list-me" not in after["all"] and "list-running" in after["all"]
    requests.post(f"{devhost.base_url}/api/manage/list-running", timeout=TIMEOUT)
