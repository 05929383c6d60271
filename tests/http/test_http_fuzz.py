"""Fuzz every operation of the served OpenAPI document with schemathesis: no input may produce a 5xx.

Schemathesis generates path values, query strings, headers and bodies from the
document, both valid (positive) and invalid (negative) ones. About half the
cases get a real pipeline / run / endpoint / experiment id in place of the
generated one, so the handlers behind the lookups are fuzzed too, not only
the 404 path. Bounded: ``MAX_EXAMPLES`` per operation, derandomized, no
example database, so a run is repeatable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from http_support import publish_noop, wait_status
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from pipeline_core import PipelineEndpoint, Workspace
from pipeline_core.rest.api import ROUTES
from pipeline_core.rest.pipelines.body import PUBLISH_FIELDS
from pipeline_core.rest.runs.body import SUBMIT_FIELDS

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 20
#: Operations whose 202 names a run (submits, cancels): the fuzzing waits for those runs to end.
RUN_OPERATIONS = {r.operation_id for r in ROUTES if r.success_status == 202 and r.response_schema == "PipelineRun"}


@pytest.fixture(scope="module")
def fuzz_targets(http_base: str, http_workspace: Workspace) -> Iterator[dict[str, Any]]:
    """Real ids to aim at, and every run the fuzzing starts (waited for at the end, so none is left running)."""
    published = publish_noop(http_workspace)
    endpoint = PipelineEndpoint.publish(http_workspace, f"fuzz-{uuid.uuid4().hex[:8]}", "fuzz target", published)
    experiment = f"fuzz-{uuid.uuid4().hex[:8]}"
    answer = requests.post(f"{http_base}/api/pipelines/{published.id}/runs", json={"ExperimentName": experiment},
                           timeout=10)
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["Id"]
    wait_status(http_base, run_id)
    targets: dict[str, Any] = {
        "pipeline_id": published.id, "endpoint": endpoint.id, "endpoint_id": endpoint.id, "run_id": run_id,
        "experiment": experiment, "step": "noop", "started": [],
    }
    yield targets
    for started in targets["started"]:
        wait_status(http_base, started)


@pytest.fixture(scope="module")
def api_operations(http_base: str) -> dict[str, Any]:
    """The served document's operations by operationId, as schemathesis loads them.

    ``from_dict`` of the fetched document, not ``from_url``: the latter leaves out the operation that
    serves the document itself, and that one is fuzzed too.
    """
    answer = requests.get(f"{http_base}/api/openapi.json", timeout=10)
    assert answer.status_code == 200, answer.text
    schema = schemathesis.openapi.from_dict(answer.json())
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations[operation.definition.raw["operationId"]] = operation
    return operations


def _aim(case: Any, targets: dict[str, Any]) -> None:
    """Aim about half the cases deeper, deterministically (decided by the generated values).

    Path values become real ids, and a generated body keeps only the fields the
    server knows: the document allows extra body fields (AML clients send more
    than amlite reads), which the server refuses, so unfiltered bodies would
    hardly ever get past the field check.
    """
    for name, value in list((case.path_parameters or {}).items()):
        if name in targets and len(str(value)) % 2 == 0:
            case.path_parameters[name] = targets[name]
    if isinstance(case.body, dict) and len(case.body) % 2 == 0:
        known = {name.lower() for name in (*SUBMIT_FIELDS, *PUBLISH_FIELDS, "PipelineSpec")}
        case.body = {key: value for key, value in case.body.items() if key.lower() in known}


def _content_type(response: Any) -> str:
    """schemathesis' Response keeps headers as ``{name: [values]}``, names as the server sent them."""
    for name, values in response.headers.items():
        if name.lower() == "content-type":
            return str(values[0] if isinstance(values, list) else values)
    return ""


# schemathesis' own pytest integration (schema.parametrize / from_fixture) fails on pytest 9
# (it reads Function._nodeid); its strategies are used with plain hypothesis instead.
@pytest.mark.parametrize("operation_id", [route.operation_id for route in ROUTES])
def test_no_input_produces_a_server_error(operation_id: str, api_operations: dict[str, Any], http_base: str,
                                          fuzz_targets: dict[str, Any]) -> None:
    operation = api_operations[operation_id]
    # the disablePipeline case may have left the target disabled: every other operation starts from Active
    requests.post(f"{http_base}/api/pipelines/{fuzz_targets['pipeline_id']}/enable", timeout=10)
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    session = requests.Session()

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def fuzz(case: Any) -> None:
        _aim(case, fuzz_targets)
        response = case.call(base_url=http_base, session=session, timeout=30)
        described = f"{case.method} {response.request.url} -> {response.status_code}: {response.text[:500]}"
        assert response.status_code < 500, described
        if 400 <= response.status_code < 500:
            assert _content_type(response).startswith("application/json"), described
            error = response.json().get("error")
            assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, described
        if response.status_code == 202 and operation_id in RUN_OPERATIONS:
            fuzz_targets["started"].append(response.json()["Id"])

    fuzz()
