"""The REST service layer called with plain values, as functions/http_api.py does, against Azurite."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from publish_helpers import call, echo_pipeline, error_of, upload_text, wait_terminal

from pipeline_core import Pipeline, PipelineEndpoint, PublishedPipeline, Workspace
from pipeline_core.engine.services import Services, services_for
from pipeline_core.engine.submit import upload_spec_and_snapshots
from pipeline_core.rest.api import (
    ROUTES,
    ServiceRequest,
    dispatch,
    handle,
    match_route,
    openapi_document,
    route_for,
)

pytestmark = pytest.mark.integration

BASE = "https://amlite.example.net"
AML = ("/api/pipelines/v1.0/subscriptions/sub-1/resourceGroups/rg-1/providers/"
       "Microsoft.MachineLearningServices/workspaces/ws-1")


@pytest.fixture
def services(workspace: Workspace) -> Services:
    return services_for(workspace.storage)


@pytest.fixture
def pipeline(workspace: Workspace, source_dir: Path, tmp_path: Path) -> Pipeline:
    return echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "from-default"))


@pytest.fixture
def published(pipeline: Pipeline) -> PublishedPipeline:
    return pipeline.publish(name=f"svc-{uuid.uuid4().hex[:8]}", version="1")


def _spec_doc(services: Services, pipeline: Pipeline) -> dict[str, Any]:
    """What a client sends: the spec JSON, after uploading the snapshots itself."""
    spec = pipeline.spec()
    upload_spec_and_snapshots(services, spec)
    doc: dict[str, Any] = json.loads(spec.to_json())
    return doc


def _submit(services: Services, pipeline_id: str, body: Any, **kwargs: Any) -> Any:
    return call(services, "submitPipelineRun", {"pipeline_id": pipeline_id}, body, **kwargs)


# -- publish and manage ----------------------------------------------------------------------
def test_publish_get_list_disable_enable(services: Services, pipeline: Pipeline) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    doc = _spec_doc(services, pipeline)
    created = call(services, "publishPipeline", body={"Name": name, "Description": "d", "Version": "2",
                                                      "PipelineSpec": doc})
    assert created.status == 201, created.body
    entity = created.body
    pid = entity["Id"]
    assert created.headers["Location"] == f"{BASE}/api/pipelines/{pid}"
    assert entity["Endpoint"] == f"{BASE}/api/pipelines/{pid}/runs"
    assert (entity["Name"], entity["Version"], entity["Status"], entity["TotalRunSteps"]) == (name, "2", "Active", 1)
    assert entity["GraphId"] == pipeline.graph_id
    assert entity["Parameters"]["count"] == {"Type": "int", "DefaultValue": 1}

    as_text = call(services, "publishPipeline", body={"Name": name, "PipelineSpec": json.dumps(doc)})
    assert as_text.status == 201 and as_text.body["GraphId"] == pipeline.graph_id

    got = call(services, "getPipeline", {"pipeline_id": pid})
    assert got.status == 200 and got.body == entity
    listed = call(services, "listPipelines", query={"name": name})
    assert {p["Id"] for p in listed.body["Value"]} == {pid, as_text.body["Id"]}

    disabled = call(services, "disablePipeline", {"pipeline_id": pid})
    assert disabled.status == 200 and disabled.body["Status"] == "Disabled"
    assert pid not in {p["Id"] for p in call(services, "listPipelines", query={"name": name}).body["Value"]}
    assert pid in {p["Id"] for p in call(services, "listPipelines",
                                         query={"name": name, "active_only": "false"}).body["Value"]}
    refused = _submit(services, pid, {"ExperimentName": "x"})
    assert refused.status == 409 and error_of(refused)["code"] == "PipelineDisabled"
    assert "enable" in error_of(refused)["message"]

    enabled = call(services, "enablePipeline", {"pipeline_id": pid})
    assert enabled.status == 200 and enabled.body["Status"] == "Active"
    run = _submit(services, pid, {"ExperimentName": f"rest-{uuid.uuid4().hex[:8]}",
                                  "ParameterAssignments": {"greeting": "published-over-rest"}})
    assert run.status == 202 and wait_terminal(services, run.body["Id"]) == "Finished"
    log = call(services, "getStepLog", {"run_id": run.body["Id"], "step": "echo"}).body
    assert "RESULT: published-over-rest | from-default" in log


def test_disable_with_active_schedule_is_409(services: Services, published: PublishedPipeline,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline_core.application.publishing.active_schedules_for", lambda s, p: ["sched-9"])
    answer = call(services, "disablePipeline", {"pipeline_id": published.id})
    assert answer.status == 409 and "sched-9" in error_of(answer)["message"]


def test_publish_bad_input(services: Services, pipeline: Pipeline, workspace: Workspace) -> None:
    doc = _spec_doc(services, pipeline)
    assert error_of(call(services, "publishPipeline", body=b"{nope"))["code"] == "MalformedJson"
    assert error_of(call(services, "publishPipeline", body={"PipelineSpec": doc}))["code"] == "MissingField"
    assert error_of(call(services, "publishPipeline", body={"Name": "n"}))["code"] == "MissingField"
    assert error_of(call(services, "publishPipeline", body={"Name": "a#b", "PipelineSpec": doc}))["code"] == \
        "InvalidField"
    wrong_schema = call(services, "publishPipeline", body={"Name": "n", "PipelineSpec": {**doc, "schema": "x"}})
    assert "PipelineSpec.schema" in error_of(wrong_schema)["message"]
    broken = json.loads(json.dumps(doc))
    del broken["steps"][0]["arguments"]
    broken["steps"][0]["inputs"] = ["not-declared"]
    answer = call(services, "publishPipeline", body={"Name": "n", "PipelineSpec": broken})
    assert error_of(answer)["code"] == "InvalidPipelineSpec"
    assert "steps[0] ('echo').inputs" in answer.body["error"]["message"]
    missing = json.loads(json.dumps(doc))
    missing["steps"][0]["snapshot"] = "0" * 64
    answer = call(services, "publishPipeline", body={"Name": "n", "PipelineSpec": missing})
    assert error_of(answer)["code"] == "SnapshotMissing" and "step 'echo'" in answer.body["error"]["message"]
    bad_default = json.loads(json.dumps(doc))
    bad_default["parameters"]["data"]["default"]["datastore"] = "no_such_store"
    answer = call(services, "publishPipeline", body={"Name": "n", "PipelineSpec": bad_default})
    assert error_of(answer)["code"] == "PipelineValidationFailed" and "no_such_store" in answer.body["error"]["message"]
    slashed = json.loads(json.dumps(doc))
    slashed["parameters"]["data"]["default"]["datastore"] = "a/b"
    answer = call(services, "publishPipeline", body={"Name": "n", "PipelineSpec": slashed})
    assert error_of(answer)["code"] == "InvalidPipelineSpec" and "default.datastore" in answer.body["error"]["message"]
    assert call(services, "getPipeline", {"pipeline_id": "nope"}).status == 404


# -- submit -------------------------------------------------------------------------------------
def test_submit_runs_to_finished_with_parameters(services: Services, published: PublishedPipeline,
                                                 workspace: Workspace, tmp_path: Path, experiment_name: str) -> None:
    other = upload_text(workspace, tmp_path, "from-assignment")
    body = {"ExperimentName": experiment_name, "ParameterAssignments": {"greeting": "bonjour", "count": "3"},
            "DataPathAssignments": {"data": {"DataStoreName": "workspaceblobstore", "RelativePath": other}},
            "Description": "rest run", "Tags": {"who": "test", "n": 1}, "RunSource": "curl",
            "DataSetDefinitionValueAssignments": {"ds": {"DataSetReference": {"Id": "x"}}}}
    answer = _submit(services, published.id, body)
    assert answer.status == 202, answer.body
    run = answer.body
    assert answer.headers["Location"] == run["RunUrl"] == f"{BASE}/api/runs/{run['Id']}"
    assert run["PipelineId"] == published.id and run["ExperimentName"] == experiment_name
    assert run["ParameterAssignments"] == {"greeting": "bonjour", "count": 3, "sleep": 0.0}
    assert run["DataPathAssignments"] == {"data": {"DataStoreName": "workspaceblobstore", "RelativePath": other}}
    assert (run["Description"], run["Tags"], run["RunSource"]) == ("rest run", {"who": "test", "n": "1"}, "curl")
    assert any("DataSetDefinitionValueAssignments" in note for note in run["Notes"])
    assert run["Status"]["StatusCode"] in ("NotStarted", "Queued", "Running")

    assert wait_terminal(services, run["Id"]) == "Finished"
    final = call(services, "getRun", {"run_id": run["Id"]}, query={"steps": "true"}).body
    assert final["Status"]["StatusCode"] == "Finished" and final["Status"]["EndTime"]
    (step,) = final["Steps"]
    assert step["Name"] == "echo" and step["Status"]["StatusCode"] == "Finished"
    out = step["Outputs"]["result"]
    blob = workspace.get_default_datastore()._container.download_blob(f"{out['RelativePath']}/result.txt")
    assert blob.readall().decode() == "bonjour bonjour bonjour | from-assignment"

    steps = call(services, "listRunSteps", {"run_id": run["Id"]}).body["Value"]
    assert [s["Name"] for s in steps] == ["echo"]
    log = call(services, "getStepLog", {"run_id": run["Id"], "step": "echo"})
    assert log.content_type.startswith("text/plain") and "RESULT: bonjour bonjour bonjour" in log.body
    tail = call(services, "getStepLog", {"run_id": run["Id"], "step": "echo"},
                query={"offset": log.headers["X-Log-Offset"]})
    assert tail.status == 200 and tail.body == ""
    runs = call(services, "listExperimentRuns", {"experiment": experiment_name}).body["Value"]
    assert [r["Id"] for r in runs] == [run["Id"]]
    ended = call(services, "cancelRun", {"run_id": run["Id"]})
    assert ended.status == 409 and error_of(ended)["code"] == "RunAlreadyEnded"


def test_submit_bad_parameters_are_400(services: Services, published: PublishedPipeline,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_STRICT_PARAMETERS", "true")  # by default undeclared ones are ignored, as in AML
    unknown = _submit(services, published.id, {"ExperimentName": "e", "ParameterAssignments": {"colour": "red"}})
    error = error_of(unknown)
    assert unknown.status == 400 and error["code"] == "InvalidParameterAssignment"
    for declared in ("count (int)", "data (datapath)", "greeting (str)", "sleep (float)"):
        assert declared in error["message"]
    assert error["details"][0]["target"] == "ParameterAssignments.colour"

    wrong = error_of(_submit(services, published.id, {"ExperimentName": "e", "ParameterAssignments": {"count": "x"}}))
    assert "'count' expects int" in wrong["message"]
    nested = error_of(_submit(services, published.id, {"ExperimentName": "e",
                                                       "ParameterAssignments": {"count": {"v": 1}}}))
    assert nested["details"][0]["target"] == "ParameterAssignments.count"
    store = error_of(_submit(services, published.id, {"ExperimentName": "e", "DataPathAssignments": {
        "data": {"DataStoreName": "nowhere", "RelativePath": "a"}}}))
    assert "nowhere" in store["message"] and store["details"][0]["target"] == "DataPathAssignments.data"
    slash = error_of(_submit(services, published.id, {"ExperimentName": "e", "DataPathAssignments": {
        "data": {"DataStoreName": "a/b"}}}))
    assert slash["details"][0]["target"] == "DataPathAssignments.data.DataStoreName"
    no_store = error_of(_submit(services, published.id, {"ExperimentName": "e",
                                                         "DataPathAssignments": {"data": {"RelativePath": "a"}}}))
    assert "DataPathAssignments.data.DataStoreName is required" in no_store["message"]
    as_param = error_of(_submit(services, published.id, {"ExperimentName": "e",
                                                         "DataPathAssignments": {"count": {"DataStoreName": "x"}}}))
    assert "'count' expects int" in as_param["message"]


@pytest.mark.parametrize(("body", "code", "fragment"), [
    (b"{\"ExperimentName\": ", "MalformedJson", "not valid JSON"),
    (b"", "MissingBody", "empty"),
    (b"[1, 2]", "MalformedJson", "not an array"),
    (b"\xff\xfe", "MalformedJson", "UTF-8"),
    ({"ParameterAssignments": {}}, "MissingField", "ExperimentName is required"),
    ({"ExperimentName": 5}, "InvalidField", "ExperimentName must be a string"),
    ({"ExperimentName": "bad name!"}, "InvalidField", "experiment name"),
    ({"ExperimentName": "e", "ParameterAssignment": {}}, "UnknownField", "ParameterAssignment"),
    ({"ExperimentName": "e", "ParameterAssignments": [1]}, "InvalidField", "must be a JSON object"),
    ({"ExperimentName": "e", "ContinueOnStepFailure": "yes"}, "InvalidField", "true or false"),
    ({"ExperimentName": "e", "Tags": {"a": [1]}}, "InvalidField", "Tags.a"),
    ({"ExperimentName": "e", "experimentName": "f"}, "BadRequest", "send the field once"),
])
def test_submit_malformed_bodies_are_400(services: Services, published: PublishedPipeline, body: Any, code: str,
                                         fragment: str) -> None:
    answer = _submit(services, published.id, body)
    assert answer.status == 400, answer.body
    assert answer.body["error"]["code"] == code and fragment in answer.body["error"]["message"]


def test_camel_case_keys_are_accepted(services: Services, published: PublishedPipeline, experiment_name: str) -> None:
    answer = _submit(services, published.id, {"experimentName": experiment_name,
                                              "parameterAssignments": {"greeting": "hi"}})
    assert answer.status == 202 and answer.body["ParameterAssignments"]["greeting"] == "hi"
    wait_terminal(services, answer.body["Id"])


def test_unknown_targets_are_404(services: Services) -> None:
    assert error_of(_submit(services, str(uuid.uuid4()), {"ExperimentName": "e"}))["code"] == "NotFound"
    assert call(services, "getRun", {"run_id": "nope"}).status == 404
    assert call(services, "listRunSteps", {"run_id": "nope"}).status == 404
    assert call(services, "cancelRun", {"run_id": "nope"}).status == 404
    assert call(services, "submitPipelineEndpointRun", {"endpoint": "nope"}, {"ExperimentName": "e"}).status == 404
    for odd in ("a/b", "a#b", "x" * 300, "\x01"):  # cannot be Table keys: 404 before any storage call
        assert call(services, "getRun", {"run_id": odd}).status == 404
        assert call(services, "getPipeline", {"pipeline_id": odd}).status == 404
        assert call(services, "getStepLog", {"run_id": "r", "step": odd}).status == 404
        assert call(services, "submitPipelineEndpointRun", {"endpoint": odd}, {"ExperimentName": "e"}).status == 404
    assert call(services, "getRun", {"run_id": "x"}, query={"steps": "maybe"}).status == 400
    assert call(services, "listExperimentRuns", {"experiment": "bad name"}).status == 400
    assert call(services, "listExperimentRuns", {"experiment": "ok"}, query={"top": "0"}).status == 400


def test_step_logs_and_cancel(services: Services, published: PublishedPipeline, experiment_name: str) -> None:
    answer = _submit(services, published.id, {"ExperimentName": experiment_name,
                                              "ParameterAssignments": {"sleep": 30}})
    run_id = answer.body["Id"]
    assert call(services, "getStepLog", {"run_id": run_id, "step": "nope"}).status == 404
    assert call(services, "getStepLog", {"run_id": run_id, "step": "echo"}, query={"file": "../x"}).status == 400
    canceled = call(services, "cancelRun", {"run_id": run_id})
    assert canceled.status == 202 and canceled.body["Status"]["StatusCode"] in ("CancelRequested", "Canceled")
    assert wait_terminal(services, run_id, timeout=30) == "Canceled"
    assert call(services, "cancelRun", {"run_id": run_id}).status == 202  # canceling a canceled run is a no-op


# -- idempotency -----------------------------------------------------------------------------
def test_idempotency_key_returns_the_same_run(services: Services, published: PublishedPipeline,
                                              experiment_name: str) -> None:
    body = {"ExperimentName": experiment_name, "ParameterAssignments": {"greeting": "once"}}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = _submit(services, published.id, body, headers=key)
    again = _submit(services, published.id, json.dumps(body, indent=2).encode(), headers={
        "idempotency-key": key["Idempotency-Key"]})
    assert first.status == again.status == 202
    assert first.body["Id"] == again.body["Id"] and again.headers.get("Idempotent-Replayed") == "true"
    published.disable()  # a retry of a request that already succeeded still gets its run
    assert _submit(services, published.id, body, headers=key).body["Id"] == first.body["Id"]
    published.enable()
    other = _submit(services, published.id, body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert other.body["Id"] != first.body["Id"]
    reused = _submit(services, published.id, {**body, "Description": "different"}, headers=key)
    assert reused.status == 409 and error_of(reused)["code"] == "IdempotencyKeyReused"
    assert error_of(_submit(services, published.id, body, headers={"Idempotency-Key": " "}))["code"] == \
        "InvalidHeader"
    for run_id in (first.body["Id"], other.body["Id"]):
        wait_terminal(services, run_id)


def test_caller_can_start_the_run_itself(services: Services, published: PublishedPipeline,
                                         experiment_name: str) -> None:
    """The HTTP layer may start runs through the Durable client: launch=False hands it the run id."""
    from pipeline_core.engine.launch import launch_run

    request = ServiceRequest(route_params={"pipeline_id": published.id}, launch=False, base_url=BASE,
                             headers={"Idempotency-Key": str(uuid.uuid4())},
                             body=json.dumps({"ExperimentName": experiment_name}).encode())
    answer = handle(services, route_for("submitPipelineRun"), request)
    assert answer.status == 202 and answer.launch_run_id == answer.body["Id"]
    # Written Queued (the caller starts it at once), so the start writes nothing before it
    assert services.runs.get_run(answer.body["Id"])["status"] == "Queued" == answer.body["Status"]["StatusCode"]
    replay = handle(services, route_for("submitPipelineRun"), request)
    assert replay.body["Id"] == answer.body["Id"] and replay.launch_run_id is None
    launch_run(services, answer.launch_run_id, created=answer.launch_row)
    assert wait_terminal(services, answer.body["Id"]) == "Finished"
    started = _submit(services, published.id, {"ExperimentName": experiment_name})
    assert started.launch_run_id is None
    wait_terminal(services, started.body["Id"])


def test_idempotency_under_concurrent_requests(services: Services, published: PublishedPipeline,
                                               experiment_name: str) -> None:
    body = {"ExperimentName": experiment_name}
    headers = {"Idempotency-Key": f"concurrent-{uuid.uuid4()}"}
    barrier = threading.Barrier(8)
    answers: list[Any] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        answer = _submit(services, published.id, body, headers=headers)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status for a in answers] == [202] * 8
    run_ids = {a.body["Id"] for a in answers}
    assert len(run_ids) == 1
    assert [r["Id"] for r in call(services, "listExperimentRuns", {"experiment": experiment_name}).body["Value"]] \
        == list(run_ids)
    wait_terminal(services, run_ids.pop())


def test_expired_idempotency_key_starts_a_new_run(services: Services, published: PublishedPipeline,
                                                  experiment_name: str) -> None:
    from pipeline_core.storage.idempotency_store import KEY_ROW, partition_for

    key = str(uuid.uuid4())
    first = _submit(services, published.id, {"ExperimentName": experiment_name}, headers={"Idempotency-Key": key})
    table = services.account.table("idempotency")
    table.update_entity({"PartitionKey": partition_for(f"pipeline:{published.id}", key), "RowKey": KEY_ROW,
                         "expires_time": "2000-01-01T00:00:00.000Z"})
    second = _submit(services, published.id, {"ExperimentName": experiment_name}, headers={"Idempotency-Key": key})
    assert second.status == 202 and second.body["Id"] != first.body["Id"]
    for answer in (first, second):
        wait_terminal(services, answer.body["Id"])


# -- endpoints and AML aliases ------------------------------------------------------------------
def test_endpoint_submit_by_id_name_and_version(services: Services, workspace: Workspace, source_dir: Path,
                                                tmp_path: Path, experiment_name: str) -> None:
    prefix = upload_text(workspace, tmp_path, "x")
    first = echo_pipeline(workspace, source_dir, prefix, "v0").publish(name="first")
    second = echo_pipeline(workspace, source_dir, prefix, "v1").publish(name="second")
    name = f"ep-{uuid.uuid4().hex[:8]}"
    endpoint = PipelineEndpoint.publish(workspace, name, "d", first)
    endpoint.add(second)
    body = {"ExperimentName": experiment_name}

    by_id = call(services, "submitPipelineEndpointRun", {"endpoint": endpoint.id}, body)
    assert by_id.status == 202 and by_id.body["PipelineId"] == first.id
    assert by_id.body["PipelineEndpointId"] == endpoint.id
    by_name = call(services, "submitPipelineEndpointRun", {"endpoint": name}, body, query={"version": "1"})
    assert by_name.body["PipelineId"] == second.id
    assert error_of(call(services, "submitPipelineEndpointRun", {"endpoint": name}, body,
                         query={"version": "9"}))["code"] == "NotFound"

    alias = ServiceRequest(body=json.dumps(body).encode(), base_url=BASE)
    via_aml = dispatch(services, "POST", f"{AML}/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint.id}/1", alias)
    assert via_aml.status == 202 and via_aml.body["PipelineId"] == second.id
    default = dispatch(services, "POST", f"{AML}/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint.id}", alias)
    assert default.body["PipelineId"] == first.id

    endpoint.disable()
    refused = call(services, "submitPipelineEndpointRun", {"endpoint": endpoint.id}, body)
    assert refused.status == 409 and error_of(refused)["code"] == "EndpointDisabled"
    for answer in (by_id, by_name, via_aml, default):
        wait_terminal(services, answer.body["Id"])


def test_aml_v1_aliases(services: Services, published: PublishedPipeline, experiment_name: str) -> None:
    request = ServiceRequest(body=json.dumps({"ExperimentName": experiment_name}).encode(), base_url=BASE + "/api/")
    submitted = dispatch(services, "POST", f"{AML}/PipelineRuns/PipelineSubmit/{published.id}", request)
    assert submitted.status == 202 and submitted.body["RunUrl"].startswith(f"{BASE}/api/runs/")
    run_id = submitted.body["Id"]
    got = dispatch(services, "GET", f"{AML}/PipelineRuns/{run_id}", ServiceRequest(base_url=BASE))
    assert got.status == 200 and got.body["Id"] == run_id
    wait_terminal(services, run_id)
    canceled = dispatch(services, "POST", f"{AML}/PipelineRuns/{run_id}/Cancel", ServiceRequest(base_url=BASE))
    assert canceled.status == 409  # it already finished
    assert dispatch(services, "DELETE", f"/api/runs/{run_id}", ServiceRequest()).status == 405
    assert dispatch(services, "GET", "/api/nothing/here", ServiceRequest()).status == 404


# -- the route table and its OpenAPI document --------------------------------------------------
def test_openapi_document_matches_route_table() -> None:
    document = openapi_document("http://localhost:7071/")
    json.dumps(document)
    assert document["openapi"].startswith("3.") and document["servers"] == [{"url": "http://localhost:7071"}]
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {(r.method, r.path) for r in ROUTES}
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert sorted(ids) == sorted(r.operation_id for r in ROUTES) and len(set(ids)) == len(ids)
    schemas = document["components"]["schemas"]
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        path_params = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert path_params == set(route.path_params)
        assert route.role in ("Pipelines.Read", "Pipelines.Submit", "Pipelines.Publish")
        assert operation["x-amlite-required-role"] == route.role
        for name in (route.request_schema, route.response_schema):
            assert name is None or name in schemas
        assert not route.function_route.startswith("/") and not route.function_route.startswith("api/")
    native = {(r.method, r.path) for r in ROUTES if not r.alias_of}
    assert ("POST", "/api/pipelines/{pipeline_id}/runs") in native
    assert ("GET", "/api/runs/{run_id}/steps/{step}/logs") in native


def test_route_matching_prefers_literal_segments() -> None:
    found = match_route("POST", f"{AML}/PipelineRuns/PipelineSubmit/abc")
    assert found is not None and found[0].operation_id == "amlSubmitPipelineRun" and found[1]["pipeline_id"] == "abc"
    found = match_route("POST", f"{AML}/PipelineRuns/abc/Cancel")
    assert found is not None and found[0].operation_id == "amlCancelPipelineRun"
    found = match_route("GET", "/api/runs/r1/steps/my%20step/logs")
    assert found is not None and found[1] == {"run_id": "r1", "step": "my step"}
    found = match_route("GET", "/api/pipelines")
    assert found is not None and found[0].operation_id == "listPipelines"


def test_dataset_parameter_set_by_data_set_definition_value_assignments(services: Services, workspace: Workspace,
                                                                        source_dir: Path, tmp_path: Path,
                                                                        experiment_name: str) -> None:
    """AML's REST callers swap a dataset parameter for a registered dataset, by name (+version) or id."""
    from pipeline_core import PipelineParameter, PythonScriptStep
    from pipeline_core.core.dataset import Dataset
    from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig

    store = workspace.get_default_datastore()
    first, second = upload_text(workspace, tmp_path, "first"), upload_text(workspace, tmp_path, "second")
    other = Dataset.File.from_files((store, f"{second}/input.txt")).register(workspace, f"ds-{uuid.uuid4().hex[:6]}")
    (source_dir / "show.py").write_text("import sys; print('read', open(sys.argv[1]).read())\n")
    param = PipelineParameter("source", default_value=Dataset.File.from_files((store, f"{first}/input.txt")))
    data = DatasetConsumptionConfig("source_data", param).as_download()
    step = PythonScriptStep(name="show", script_name="show.py", source_directory=str(source_dir),
                            arguments=[data], inputs=[data])
    published = Pipeline(workspace, [step]).publish(name=f"svc-ds-{uuid.uuid4().hex[:6]}")

    def submitted_log(assignments: dict[str, Any] | None) -> str:
        body = {"ExperimentName": experiment_name, **({"DataSetDefinitionValueAssignments": assignments}
                                                       if assignments else {})}
        answer = _submit(services, published.id, body)
        assert answer.status == 202, answer.body
        assert wait_terminal(services, answer.body["Id"]) == "Finished"
        page = call(services, "getStepLog", {"run_id": answer.body["Id"], "step": "show"})
        return str(page.body)  # a reused step's log is the log of the run it reused

    assert "read first" in submitted_log(None)  # the default
    assert "read second" in submitted_log({"source": {"DataSetReference": {"Name": other.name, "Version": "1"}}})
    assert "read second" in submitted_log({"source": {"SavedDataSetReference": {"Id": other.id}}})
    missing = _submit(services, published.id, {"ExperimentName": experiment_name, "DataSetDefinitionValueAssignments":
                                               {"source": {"DataSetReference": {"Name": "no-such-dataset"}}}})
    assert missing.status == 400 and "no registered dataset no-such-dataset" in error_of(missing)["message"]
