"""Published pipelines as HTTP endpoints, over real sockets against the in-process dev host."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from http_support import error_of, get_run, on_host, publish_noop, wait_status

from amlite_local.host import DevHost
from pipeline_core import PublishedPipeline, Workspace
from pipeline_core.engine.services import services_for
from pipeline_core.webview.pages import PAGES

pytestmark = pytest.mark.integration

AML = ("/api/pipelines/v1.0/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg/providers/"
       "Microsoft.MachineLearningServices/workspaces/my-ws")


def _experiment() -> str:
    return f"http-{uuid.uuid4().hex[:10]}"


def _output_text(ws: Workspace, base: str, run_id: str) -> str:
    """What the echo step wrote to its output ``result``, read from the datastore the run reports."""
    (step,) = get_run(base, run_id, steps="true")["Steps"]
    out = step["Outputs"]["result"]
    container = ws.get_default_datastore()._container
    return str(container.download_blob(f"{out['RelativePath']}/arg.txt").readall().decode())


def _submit(url: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=30, **kwargs)


# -- submit, poll, parameters -------------------------------------------------------------------
def test_publish_then_post_endpoint_runs_to_finished(http_base: str, http_workspace: Workspace,
                                                      echo_published: PublishedPipeline) -> None:
    assert echo_published.endpoint.endswith(f"/api/pipelines/{echo_published.id}/runs")
    answer = _submit(on_host(echo_published.endpoint, http_base),
                     {"ExperimentName": _experiment(), "ParameterAssignments": {"pipeline_arg": 42}})
    assert answer.status_code == 202, answer.text
    run = answer.json()
    run_id = run["Id"]
    assert answer.headers["Location"] == run["RunUrl"] == f"{http_base}/api/runs/{run_id}"
    assert run["PipelineId"] == echo_published.id
    assert run["ParameterAssignments"] == {"pipeline_arg": 42, "sleep": 0.0}

    assert wait_status(http_base, run_id) == "Finished"
    polled = requests.get(answer.headers["Location"], timeout=10).json()
    assert polled["Status"]["StatusCode"] == "Finished" and polled["Status"]["EndTime"]
    assert _output_text(http_workspace, http_base, run_id) == "42"
    log = requests.get(f"{http_base}/api/runs/{run_id}/steps/echo/logs", timeout=10)
    assert log.status_code == 200 and "PIPELINE_ARG: 42" in log.text


def test_a_submit_answers_a_queued_run_that_names_the_hub_it_was_started_in(
        http_host: DevHost, http_base: str, http_workspace: Workspace, noop_published: PublishedPipeline) -> None:
    """The run is written Queued with its owner and task hub in the submit's one transaction (the start
    follows at once, with no write before it); the app's sweeper needs the hub to judge a lost instance."""
    answer = _submit(on_host(noop_published.endpoint, http_base), {"ExperimentName": _experiment()})
    assert answer.status_code == 202, answer.text
    assert answer.json()["Status"]["StatusCode"] == "Queued"
    run_id = answer.json()["Id"]
    row = services_for(http_workspace.storage).runs.get_run(run_id)
    assert http_host.engine is not None and http_host.engine.store is not None
    assert row["task_hub"] == http_host.engine.store.task_hub and row["host_id"]
    assert wait_status(http_base, run_id) == "Finished"


def test_default_parameter_applies_when_none_is_assigned(http_base: str, http_workspace: Workspace,
                                                         echo_published: PublishedPipeline) -> None:
    answer = _submit(on_host(echo_published.endpoint, http_base), {"ExperimentName": _experiment()})
    assert answer.status_code == 202, answer.text
    assert wait_status(http_base, answer.json()["Id"]) == "Finished"
    assert _output_text(http_workspace, http_base, answer.json()["Id"]) == "10"


def test_aml_notebook_rest_example_and_alias_route(http_base: str, http_workspace: Workspace,
                                                   echo_published: PublishedPipeline) -> None:
    """The request of AML's "publish a pipeline" notebook, verbatim but for the URL; then the AML alias route."""
    rest_endpoint = on_host(echo_published.endpoint, http_base)
    auth_header = {"Authorization": "Bearer <token>"}  # AMLITE_AUTH=none: any header is fine
    response = requests.post(rest_endpoint, headers=auth_header,
                             json={"ExperimentName": "My_Pipeline", "ParameterAssignments": {"pipeline_arg": 20}})
    run_id = response.json().get("Id")
    assert response.status_code == 202 and run_id, response.text

    alias = requests.post(f"{http_base}{AML}/PipelineRuns/PipelineSubmit/{echo_published.id}", headers=auth_header,
                          json={"ExperimentName": "My_Pipeline", "ParameterAssignments": {"pipeline_arg": 21}})
    alias_id = alias.json().get("Id")
    assert alias.status_code == 202 and alias_id and alias_id != run_id, alias.text
    assert alias.headers["Location"] == f"{http_base}/api/runs/{alias_id}"

    for rid, value in ((run_id, "20"), (alias_id, "21")):
        assert wait_status(http_base, rid) == "Finished"
        assert _output_text(http_workspace, http_base, rid) == value
    via_alias = requests.get(f"{http_base}{AML}/PipelineRuns/{alias_id}", timeout=10)
    assert via_alias.status_code == 200 and via_alias.json()["Status"]["StatusCode"] == "Finished"
    ended = requests.post(f"{http_base}{AML}/PipelineRuns/{alias_id}/Cancel", timeout=10)
    assert error_of(ended, 409)["code"] == "RunAlreadyEnded"


# -- idempotency, disabled pipelines, bad input, cancel -------------------------------------------
def test_idempotency_key_dedupes_over_http(http_base: str, noop_published: PublishedPipeline) -> None:
    url = on_host(noop_published.endpoint, http_base)
    body = {"ExperimentName": _experiment()}
    key = str(uuid.uuid4())
    first = _submit(url, body, headers={"Idempotency-Key": key})
    again = _submit(url, body, headers={"idempotency-key": key})
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["Id"] == again.json()["Id"]
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    reused = _submit(url, {**body, "Description": "another request"}, headers={"Idempotency-Key": key})
    assert error_of(reused, 409)["code"] == "IdempotencyKeyReused"
    other = _submit(url, body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert other.status_code == 202 and other.json()["Id"] != first.json()["Id"]
    assert error_of(_submit(url, body, headers={"Idempotency-Key": "x" * 300}), 400)["code"] == "InvalidHeader"
    listed = requests.get(f"{http_base}/api/experiments/{body['ExperimentName']}/runs", timeout=10).json()["Value"]
    assert sorted(r["Id"] for r in listed) == sorted({first.json()["Id"], other.json()["Id"]})
    for run_id in (first.json()["Id"], other.json()["Id"]):
        assert wait_status(http_base, run_id) == "Finished"


def test_disabled_pipeline_is_refused_with_a_message(http_base: str, http_workspace: Workspace) -> None:
    published = publish_noop(http_workspace)
    url = on_host(published.endpoint, http_base)
    disabled = requests.post(f"{http_base}/api/pipelines/{published.id}/disable", timeout=10)
    assert disabled.status_code == 200 and disabled.json()["Status"] == "Disabled"
    refused = error_of(_submit(url, {"ExperimentName": _experiment()}), 409)
    assert refused["code"] == "PipelineDisabled"
    assert published.id in refused["message"] and "enable" in refused["message"]
    alias = _submit(f"{http_base}{AML}/PipelineRuns/PipelineSubmit/{published.id}", {"ExperimentName": "e"})
    assert error_of(alias, 409)["code"] == "PipelineDisabled"
    enabled = requests.post(f"{http_base}/api/pipelines/{published.id}/enable", timeout=10)
    assert enabled.status_code == 200 and enabled.json()["Status"] == "Active"
    accepted = _submit(url, {"ExperimentName": _experiment()})
    assert accepted.status_code == 202
    assert wait_status(http_base, accepted.json()["Id"]) == "Finished"


@pytest.mark.parametrize(("body", "status", "code", "fragment"), [
    (b'{"ExperimentName": ', 400, "MalformedJson", "not valid JSON"),
    (b"", 400, "MissingBody", "empty"),
    (b"\xff\xfe\x00", 400, "MalformedJson", "UTF-8"),
    (b"[]", 400, "MalformedJson", "not an array"),
    (b'{"ExperimentName": NaN}', 400, "MalformedJson", "NaN"),
    (b'{"ExperimentName": 5}', 400, "InvalidField", "ExperimentName must be a string"),
    (b'{"ExperimentName": "e", "ParameterAssignments": [20]}', 400, "InvalidField", "must be a JSON object"),
    (b'{"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": "twenty"}}', 400,
     "InvalidParameterAssignment", "pipeline_arg"),
    (b'{"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": {"v": 1}}}', 400, "InvalidField",
     "ParameterAssignments.pipeline_arg"),
    (b'{"ExperimentName": "e", "ContinueOnStepFailure": "yes"}', 400, "InvalidField", "true or false"),
    (b'{"ExperimentName": "e", "Tags": {"a": null}}', 400, "InvalidField", "Tags.a"),
    (b'{"ExperimentName": "e", "Unexpected": 1}', 400, "UnknownField", "Unexpected"),
    (b'{"ExperimentName": "not a valid name!"}', 400, "InvalidField", "experiment name"),
    # once 5xx: too deep for the JSON parser, a number that is not finite, more than a Table property holds
    (b"[" * 100_000 + b"]" * 100_000, 400, "MalformedJson", "too deeply"),
    (b'{"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": 1e400}}', 400, "MalformedJson",
     "too large"),
    (b'{"ExperimentName": "e", "Tags": {"a": "' + b"v" * 70_000 + b'"}}', 400, "InvalidField", "Tags take"),
    (b'{"ExperimentName": "e", "Tags": {' + b",".join(b'"t%d": "%s"' % (i, b"v" * 999) for i in range(40))
     + b"}}", 400, "InvalidField", "the limit is"),
    (b'{"ExperimentName": "e", "ParameterAssignments": {"sleep": "' + b"1" * 20_000 + b'"}}', 400,
     "InvalidField", "ParameterAssignments and DataPathAssignments take"),
])
def test_bad_submit_bodies_are_4xx_with_the_error_shape(http_base: str, echo_published: PublishedPipeline,
                                                       body: bytes, status: int, code: str, fragment: str) -> None:
    answer = requests.post(on_host(echo_published.endpoint, http_base), data=body,
                           headers={"Content-Type": "application/json"}, timeout=10)
    error = error_of(answer, status)
    assert error["code"] == code and fragment in error["message"], error


def test_undeclared_parameter_assignments_run_and_are_named_as_ignored(http_base: str,
                                                                      echo_published: PublishedPipeline) -> None:
    """AML v1 (and so Data Factory's "Execute ML pipeline") sends assignments a pipeline may not declare."""
    answer = requests.post(on_host(echo_published.endpoint, http_base), timeout=10,
                           json={"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": 3, "nope": 1}})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["ParameterAssignments"]["pipeline_arg"] == 3 and "nope" not in body["ParameterAssignments"]
    assert any("['nope'] are not declared" in note for note in body["Notes"])
    assert wait_status(http_base, body["Id"]) == "Finished"
    again = requests.get(f"{http_base}/api/runs/{body['Id']}", timeout=10).json()
    assert again["Notes"] == body["Notes"]  # kept on the run, not only in the answer


def test_publish_over_http_refuses_a_spec_too_large_to_store(http_base: str, http_workspace: Workspace,
                                                              echo_published: PublishedPipeline) -> None:
    """Once a 500: the declarations are stored in one Table property, which holds at most 32K characters."""
    doc = json.loads(json.dumps(services_for(http_workspace.storage).load_spec(echo_published.graph_id).doc))
    doc["parameters"]["big"] = {"type": "str", "default": "x" * 20_000}
    answer = requests.post(f"{http_base}/api/pipelines", json={"Name": "too-big", "PipelineSpec": doc}, timeout=30)
    error = error_of(answer, 400)
    assert error["code"] == "InvalidPipelineSpec" and "PipelineSpec.parameters" in error["message"]
    doc["parameters"].pop("big")
    doc["steps"][0]["recorded"] = {"environment": "y" * 40_000}
    answer = requests.post(f"{http_base}/api/pipelines", json={"Name": "too-big", "PipelineSpec": doc}, timeout=30)
    assert "recorded" in error_of(answer, 400)["message"]


def test_unknown_targets_are_404_with_the_error_shape(http_base: str) -> None:
    missing = str(uuid.uuid4())
    body = {"ExperimentName": "e"}
    for url in (f"{http_base}/api/pipelines/{missing}/runs", f"{http_base}{AML}/PipelineRuns/PipelineSubmit/{missing}",
                f"{http_base}/api/pipelineendpoints/{missing}/runs", f"{http_base}/api/runs/{missing}/cancel",
                f"{http_base}/api/pipelines/a%2Fb/runs", f"{http_base}/api/pipelines/%01/runs"):
        assert error_of(_submit(url, body), 404)["code"] == "NotFound", url
    for url in (f"{http_base}/api/runs/{missing}", f"{http_base}/api/pipelines/{missing}",
                f"{http_base}/api/runs/{missing}/steps", f"{http_base}/api/nothing/here"):
        assert error_of(requests.get(url, timeout=10), 404)["code"] == "NotFound", url
    assert error_of(requests.delete(f"{http_base}/api/runs/{missing}", timeout=10), 405)
    assert error_of(requests.get(f"{http_base}/api/runs/x", params={"steps": "maybe"}, timeout=10), 400)


@pytest.mark.parametrize("route", ["/api/runs/{}/cancel", AML + "/PipelineRuns/{}/Cancel"])
def test_cancel_over_http(http_base: str, echo_published: PublishedPipeline, route: str) -> None:
    answer = _submit(on_host(echo_published.endpoint, http_base),
                     {"ExperimentName": _experiment(), "ParameterAssignments": {"sleep": 60}})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["Id"]
    assert wait_status(http_base, run_id, timeout=30, statuses=("Running",)) == "Running"
    canceled = requests.post(http_base + route.format(run_id), timeout=10)
    assert canceled.status_code == 202, canceled.text
    assert canceled.json()["Status"]["StatusCode"] in ("CancelRequested", "Canceled")
    assert canceled.headers["Location"] == f"{http_base}/api/runs/{run_id}"
    began = time.monotonic()
    assert wait_status(http_base, run_id, timeout=20) == "Canceled"
    assert time.monotonic() - began < 15, "the sleeping step must be stopped, not waited for"
    (step,) = get_run(http_base, run_id, steps="true")["Steps"]
    assert step["Status"]["StatusCode"] == "Canceled"
    again = requests.post(f"{http_base}{AML}/PipelineRuns/{run_id}/Cancel", timeout=10)
    assert again.status_code == 202 and again.json()["Status"]["StatusCode"] == "Canceled"


# -- many at once --------------------------------------------------------------------------------
def test_100_concurrent_submits_all_finish(http_base: str, noop_published: PublishedPipeline) -> None:
    url = on_host(noop_published.endpoint, http_base)
    experiment = _experiment()
    began = time.monotonic()

    def submit(i: int) -> tuple[int, str, str]:
        with requests.Session() as session:
            answer = session.post(url, json={"ExperimentName": experiment, "Tags": {"i": str(i)}}, timeout=60)
        return answer.status_code, answer.json().get("Id", ""), answer.text

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(submit, range(100)))
    submitted = time.monotonic() - began
    assert [status for status, _, _ in answers] == [202] * 100, [text for status, _, text in answers if status != 202]
    run_ids = [run_id for _, run_id, _ in answers]
    assert len(set(run_ids)) == 100

    pending = set(run_ids)
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        listed = requests.get(f"{http_base}/api/experiments/{experiment}/runs", params={"top": 1000},
                              timeout=30).json()["Value"]
        status = {r["Id"]: r["Status"]["StatusCode"] for r in listed}
        assert set(status) == set(run_ids), "every accepted run is listed under its experiment"
        failed = {rid: s for rid, s in status.items() if s in ("Failed", "Canceled")}
        assert not failed, failed
        pending = {rid for rid, s in status.items() if s != "Finished"}
        time.sleep(0.5)  # each listing reads 100 run rows: poll gently
    finished = time.monotonic() - began
    print(f"\n100 concurrent submits: all 202 in {submitted:.1f} s, all Finished in {finished:.1f} s")
    assert not pending, f"{len(pending)} runs not Finished after {finished:.0f} s"


# -- the OpenAPI document and the served routes ------------------------------------------------------
def test_openapi_document_matches_the_served_routes(http_host: DevHost, http_base: str) -> None:
    answer = requests.get(f"{http_base}/api/openapi.json", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    assert document["servers"] == [{"url": http_base}]
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}

    assert http_host.app is not None
    prefix = "/" + http_host.app.route_prefix.strip("/")
    registered = {(method.upper(), f"{prefix}/{info.http.route.strip('/')}")
                  for info in http_host.app.functions if info.http is not None for method in info.http.methods}
    pages = {("GET", f"{prefix}/{page.route}") for page in PAGES}  # the web run view: HTML, not API
    assert documented == registered - pages and pages <= registered

    for method, path in sorted(documented):  # and each one is answered by its function, not by the host's router
        url = http_base + path.replace("{", "").replace("}", "")
        served = requests.request(method, url, timeout=10)
        assert served.status_code < 500, (method, path, served.text)
        assert served.status_code != 405, (method, path)
        if served.status_code == 404:
            assert "No function serves" not in served.json()["error"]["message"], (method, path)
