"""Sample Functions app for the amlite dev host tests.

It covers what the dev host must run: an activity chain, a fan-out/fan-in,
a retried activity, a durable timer, an external event raced against a timer,
a sub-orchestration, continue-as-new, an HTTP starter using the real
DurableOrchestrationClient, plain HTTP routes and a timer trigger.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Test observability: attempts per flaky key and timer-trigger ticks.
FLAKY_ATTEMPTS: dict[str, int] = {}
TICKS: list[bool] = []
_lock = threading.Lock()


# ---------------------------------------------------------------- activities


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="x")
def add_one(x: int) -> int:
    return x + 1


@app.activity_trigger(input_name="payload")
def noop(payload: Any) -> Any:
    return payload


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    """Fails the first two calls for a key, then succeeds."""
    with _lock:
        FLAKY_ATTEMPTS[key] = FLAKY_ATTEMPTS.get(key, 0) + 1
        attempt = FLAKY_ATTEMPTS[key]
    if attempt <= 2:
        raise RuntimeError(f"flaky failure {attempt} for {key}")
    return f"{key} ok after {attempt}"


@app.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


@app.activity_trigger(input_name="x")
async def async_double(x: int) -> int:
    return 2 * x


# ---------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    start = context.get_input() or 0
    a = yield context.call_activity("add_one", start)
    context.set_custom_status({"step": 1})
    b = yield context.call_activity("add_one", a)
    c = yield context.call_activity("async_double", b)
    greeting = yield context.call_activity("hello", str(c))
    context.set_custom_status({"step": 4})
    return {"value": c, "greeting": greeting}


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input() or 10
    results = yield context.task_all([context.call_activity("add_one", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def retry_orch(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    key = context.get_input()
    result = yield context.call_activity_with_retry("flaky", options, key)
    return result


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("explode", options, "always")
    except Exception as exc:  # the orchestrator sees the last failure
        return f"gave up: {str(exc).splitlines()[0]}"
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def timer_orch(context: df.DurableOrchestrationContext):
    seconds = float(context.get_input() or 0.2)
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=seconds))
    return (context.current_utc_datetime - started).total_seconds()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Wait for an 'Approve' event, or give up when the timer fires first."""
    timeout = float(context.get_input() or 5.0)
    deadline = context.current_utc_datetime + timedelta(seconds=timeout)
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("Approve")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": True, "by": event.result}
    return {"approved": False}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    first = yield context.call_sub_orchestrator("chain", 1)
    second = yield context.call_sub_orchestrator("fan_out", 5, instance_id=f"{context.instance_id}-fan")
    return {"chain": first, "fan_out": second}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    """Fails (through its activity) the first two times it runs for a key."""
    result = yield context.call_activity("flaky", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def retry_child(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=30, max_number_of_attempts=3)
    result = yield context.call_sub_orchestrator_with_retry("flaky_child", options, context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    """WhenAny over activities: the winner's result, whichever finishes first."""
    first = yield context.task_any([context.call_activity("add_one", 1), context.call_activity("add_one", 10)])
    rest = yield context.call_activity("add_one", first.result)
    return rest


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", "boom")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    n = yield context.call_activity("add_one", n)
    if n < 3:
        context.continue_as_new(n)
        return None
    return n


# ---------------------------------------------------------------- HTTP


@app.route(route="orchestrators/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], req.route_params.get("instance_id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="status/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instance_id"], show_input=True)
    if not status:
        return func.HttpResponse("not found", status_code=404)
    return func.HttpResponse(json.dumps(status.to_json()), mimetype="application/json")


@app.route(route="events/{instance_id}/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_raise(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["instance_id"], req.route_params["event"], req.get_json())
    return func.HttpResponse(status_code=202)


@app.route(route="manage/{instance_id}", methods=["DELETE", "POST"])
@app.durable_client_input(client_name="client")
async def http_manage(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params["instance_id"]
    if req.method == "POST":
        await client.terminate(instance_id, req.params.get("reason", "by test"))
        return func.HttpResponse(status_code=202)
    result = await client.purge_instance_history(instance_id)
    return func.HttpResponse(json.dumps({"deleted": result.instances_deleted}), mimetype="application/json")


@app.route(route="instances", methods=["GET", "DELETE"])
@app.durable_client_input(client_name="client")
async def http_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """get_status_all / get_status_by / purge_instance_history_by through the real client."""
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    completed = [df.OrchestrationRuntimeStatus.Completed]
    if req.method == "DELETE":
        result = await client.purge_instance_history_by(since, None, completed)
        return func.HttpResponse(json.dumps({"deleted": result.instances_deleted}), mimetype="application/json")
    everything = await client.get_status_all()
    done = await client.get_status_by(created_time_from=since, runtime_status=completed)
    body = {"all": sorted(s.instance_id for s in everything), "completed": sorted(s.instance_id for s in done)}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="links/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_links(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    payload = client.create_http_management_payload(req.route_params["instance_id"])
    return func.HttpResponse(json.dumps(payload), mimetype="application/json")


@app.route(route="items/{id:int}/{*rest}", methods=["GET", "PUT"])
def items(req: func.HttpRequest) -> func.HttpResponse:
    """Echo what the host passed in, so tests can check the request conversion."""
    body = req.get_body()
    echo = {
        "method": req.method,
        "route": dict(req.route_params),
        "query": dict(req.params),
        "header": req.headers.get("x-test"),
        "body": body.decode() if body else None,
        "url": req.url,
    }
    return func.HttpResponse(json.dumps(echo), status_code=200, mimetype="application/json",
                             headers={"X-Echo": "1"})


@app.route(route="items/special", methods=["GET"])
def items_special(req: func.HttpRequest) -> str:
    return "literal route wins"


@app.route(route="hello/{name:alpha}", methods=["GET"])
async def hello_http(req: func.HttpRequest) -> str:
    return f"hi {req.route_params['name']}"


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom")


# ---------------------------------------------------------------- timer trigger


@app.timer_trigger(schedule="* * * * * *", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    TICKS.append(timer.past_due)
