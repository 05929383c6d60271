"""Managing published pipelines and pipeline endpoints from a remote workspace, over REST only.

The session's ``DevHost`` serves the repo's Functions app on a free loopback
port over Azurite (``tests/http/conftest.py``). Publishing uploads snapshots, so
it uses a workspace with the app's storage (``ws``); everything after that uses
``rest_only``: the same endpoint, but storage whose key is wrong, so any read or
write that went to the storage account instead of the app would fail with 403.
That is the CI case: the app URL and a token, no storage keys.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from http_support import error_of, wait_status
from jwks_support import PUBLISH, READ, LocalIssuer, mint

from pipeline_core import (
    Pipeline,
    PipelineEndpoint,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.client import (
    AmliteClient,
    RemoteAuthError,
    RemoteBadRequestError,
    RemoteConflictError,
    RemoteNotFoundError,
)
from pipeline_core.errors import NotFoundError
from pipeline_core.storage.account import get_account

pytestmark = pytest.mark.integration


# -- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture
def ws(http_base: str, azurite: str) -> Workspace:
    """A remote workspace as config.json names it: the app's URL and its storage (publishing uploads snapshots)."""
    return Workspace(endpoint=http_base, storage=azurite)


@pytest.fixture
def rest_only(http_base: str, azurite: str) -> Workspace:
    """The app's URL, and storage that refuses every request (a wrong account key): REST or nothing."""
    wrong_key = re.sub(r"AccountKey=[^;]+", "AccountKey=" + "A" * 86 + "==", azurite)
    assert wrong_key != azurite, "the Azurite connection string should carry an AccountKey"
    with pytest.raises(HttpResponseError, match="failed to authenticate"):  # the premise: storage is closed to it
        get_account(wrong_key).table("pipelines").get_entity("", "probe")
    return Workspace(endpoint=http_base, storage=wrong_key)


def publish_marker(ws: Workspace, source_dir: Path, marker: str, name: str | None = None) -> PublishedPipeline:
    """A one-step pipeline that prints ``marker``: its log says which published pipeline a run ran."""
    folder = source_dir / marker
    folder.mkdir()
    (folder / "say.py").write_text(f"print('marker: {marker}')\n")
    step = PythonScriptStep("say.py", name="say", source_directory=str(folder), allow_reuse=False)
    return Pipeline(ws, [step]).publish(name=name or f"mgmt-{uuid.uuid4().hex[:8]}", version="1")


class Bearer:
    """What ``Workspace(auth=...)`` takes: anything with ``get_authentication_header()``."""

    def __init__(self, token: str):
        self.token = token

    def get_authentication_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _post(base: str, path: str, body: Any = None) -> requests.Response:
    return requests.post(f"{base}{path}", json=body, timeout=10)


# -- published pipelines --------------------------------------------------------------------------
def test_published_pipeline_get_list_disable_enable(ws: Workspace, rest_only: Workspace, http_base: str,
                                                   http_workspace: Workspace, source_dir: Path,
                                                   experiment_name: str) -> None:
    published = publish_marker(ws, source_dir, f"pp-{uuid.uuid4().hex[:8]}")

    got = PublishedPipeline.get(rest_only, published.id)
    assert (got.id, got.name, got.version, got.graph_id, got.status) == \
        (published.id, published.name, "1", published.graph_id, "Active")
    assert got.endpoint == f"{http_base}/api/pipelines/{published.id}/runs"
    assert published.id in [p.id for p in PublishedPipeline.list(rest_only)]
    assert [p.id for p in PublishedPipeline.get_all(rest_only)] == [p.id for p in PublishedPipeline.list(rest_only)]

    got.disable()
    assert got.status == "Disabled"
    assert PublishedPipeline.get(rest_only, published.id).status == "Disabled"
    assert PublishedPipeline.get(http_workspace, published.id).status == "Disabled"  # the same table, not a copy
    assert published.id not in [p.id for p in PublishedPipeline.list(rest_only)]
    assert published.id in [p.id for p in PublishedPipeline.list(rest_only, active_only=False)]
    with pytest.raises(RemoteConflictError, match="is Disabled") as refused:
        got.submit(rest_only, experiment_name)
    assert refused.value.code == "PipelineDisabled"
    got.disable()  # disabling twice is not an error
    assert got.status == "Disabled"

    got.enable()
    assert got.status == "Active" and PublishedPipeline.get(rest_only, published.id).status == "Active"
    assert published.id in [p.id for p in PublishedPipeline.list(rest_only)]
    run = got.submit(rest_only, experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"

    # config.json may name the app with its /api prefix: the URLs the SDK builds do not double it
    with_prefix = Workspace(endpoint=f"{http_base}/api/", storage=rest_only.storage)
    again = PublishedPipeline.get(with_prefix, published.id)
    assert again.endpoint == f"{http_base}/api/pipelines/{published.id}/runs"
    assert again.submit(with_prefix, experiment_name).wait_for_completion(show_output=False,
                                                                          timeout_seconds=60) == "Finished"


# -- pipeline endpoints ---------------------------------------------------------------------------
def test_pipeline_endpoint_lifecycle(ws: Workspace, rest_only: Workspace, http_base: str, http_workspace: Workspace,
                                     source_dir: Path, experiment_name: str) -> None:
    tag = uuid.uuid4().hex[:8]
    first = publish_marker(ws, source_dir, f"one-{tag}")
    second = publish_marker(ws, source_dir, f"two-{tag}")
    name = f"mgmt-ep-{tag}"

    endpoint = PipelineEndpoint.publish(rest_only, name, "scores things", first)
    assert (endpoint.name, endpoint.description, endpoint.status, endpoint.default_version) == \
        (name, "scores things", "Active", "0")
    assert [(v.pipeline_id, v.version) for v in endpoint.pipeline_version_list] == [(first.id, "0")]
    assert endpoint.endpoint == (f"{http_base}/api/pipelines/v1.0/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                                 f"amlite-local/providers/"
                                 f"Microsoft.MachineLearningServices/workspaces/local/PipelineRuns/"
                                 f"PipelineEndpointSubmit/Id/{endpoint.id}")  # AML's URL shape

    assert PipelineEndpoint.get(rest_only, id=endpoint.id).name == name
    assert PipelineEndpoint.get(rest_only, name=name).id == endpoint.id
    assert endpoint.id in [e.id for e in PipelineEndpoint.list(rest_only)]

    endpoint.add(second)
    endpoint.add(second)  # already version "1": no third version
    assert [(v.pipeline_id, v.version) for v in endpoint.list_versions()] == [(first.id, "0"), (second.id, "1")]
    assert endpoint.default_version == "0"
    endpoint.set_default_version("1")
    assert endpoint.default_version == "1" and endpoint.get_default_version() == "1"
    assert endpoint.get_pipeline().id == second.id and endpoint.get_pipeline("0").id == first.id
    assert [p.id for p in endpoint.list_pipelines()] == [first.id, second.id]
    assert PipelineEndpoint.get(http_workspace, name=name).default_version == "1"  # stored where local code reads

    # submit by name: the default version's pipeline runs
    run = PipelineEndpoint.get(rest_only, name=name).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    assert run.get_details()["pipelineId"] == second.id
    assert f"marker: two-{tag}" in run.find_step_run("say")[0].get_job_log()
    answer = _post(http_base, f"/api/pipelineendpoints/{name}/runs?version=0", {"ExperimentName": experiment_name})
    assert answer.status_code == 202, answer.text
    assert (answer.json()["PipelineEndpointId"], answer.json()["PipelineId"]) == (endpoint.id, first.id)
    assert wait_status(http_base, answer.json()["Id"]) == "Finished"

    endpoint.add_default(first)  # already version "0": it only becomes the default again
    assert endpoint.default_version == "0" and len(endpoint.pipeline_version_list) == 2

    endpoint.disable()
    assert endpoint.status == "Disabled"
    assert endpoint.id not in [e.id for e in PipelineEndpoint.list(rest_only)]
    assert endpoint.id in [e.id for e in PipelineEndpoint.list(rest_only, active_only=False)]
    with pytest.raises(RemoteConflictError, match=r"is Disabled.*enable it") as refused:
        endpoint.submit(experiment_name)
    assert refused.value.status == 409 and refused.value.code == "EndpointDisabled"
    endpoint.enable()
    assert endpoint.status == "Active" and PipelineEndpoint.get(rest_only, id=endpoint.id).status == "Active"


def test_endpoint_rest_answers(ws: Workspace, http_base: str, source_dir: Path) -> None:
    """The raw routes, as a REST caller without the SDK sees them: status codes, Location, the entity."""
    published = publish_marker(ws, source_dir, f"raw-{uuid.uuid4().hex[:8]}")
    name = f"raw-ep-{uuid.uuid4().hex[:8]}"
    created = _post(http_base, "/api/pipelineendpoints", {"Name": name, "PipelineId": published.id})
    assert created.status_code == 201, created.text
    entity = created.json()
    assert created.headers["Location"] == f"{http_base}/api/pipelineendpoints/{entity['Id']}"
    assert (entity["Name"], entity["DefaultVersion"], entity["Status"]) == (name, "0", "Active")
    assert [(v["Version"], v["PipelineId"]) for v in entity["Versions"]] == [("0", published.id)]
    assert entity["Endpoint"] == f"{http_base}/api/pipelineendpoints/{entity['Id']}/runs"

    by_location = requests.get(created.headers["Location"], timeout=10)
    by_name = requests.get(f"{http_base}/api/pipelineendpoints/{name}", params={"by": "name"}, timeout=10)
    assert by_location.json() == by_name.json() == entity
    assert requests.get(f"{http_base}/api/pipelineendpoints/{name}", params={"by": "id"}, timeout=10).status_code \
        == 404  # a name is not an id when the caller says so

    added = _post(http_base, f"/api/pipelineendpoints/{name}/versions", {"PipelineId": published.id,
                                                                         "SetAsDefault": True})
    assert added.status_code == 200 and len(added.json()["Versions"]) == 1  # already there: nothing added
    default = _post(http_base, f"/api/pipelineendpoints/{entity['Id']}/defaultversion", {"Version": 0})
    assert default.status_code == 200 and default.json()["DefaultVersion"] == "0"
    for action, status in (("disable", "Disabled"), ("disable", "Disabled"), ("enable", "Active")):
        answer = _post(http_base, f"/api/pipelineendpoints/{name}/{action}")
        assert answer.status_code == 200 and answer.json()["Status"] == status, answer.text


# -- refusals -------------------------------------------------------------------------------------
def test_refusals_name_the_thing_and_the_fix(ws: Workspace, rest_only: Workspace, http_base: str,
                                             source_dir: Path) -> None:
    published = publish_marker(ws, source_dir, f"bad-{uuid.uuid4().hex[:8]}")
    name = f"bad-ep-{uuid.uuid4().hex[:8]}"
    endpoint = PipelineEndpoint.publish(rest_only, name, "", published)

    # SDK: unknown ids and names are NotFoundError (a RemoteNotFoundError), naming what was asked for
    with pytest.raises(NotFoundError, match=r"published pipeline 'no-such-pipeline' was not found.*list") as missing:
        PublishedPipeline.get(rest_only, "no-such-pipeline")
    assert isinstance(missing.value, RemoteNotFoundError) and missing.value.status == 404
    with pytest.raises(RemoteNotFoundError, match=r"pipeline endpoint named 'no-such-endpoint' was not found"):
        PipelineEndpoint.get(rest_only, name="no-such-endpoint")
    with pytest.raises(RemoteNotFoundError, match=r"has no version '7'; its versions: 0"):
        endpoint.set_default_version("7")
    with pytest.raises(NotFoundError, match=r"has no version '7'; its versions: 0"):
        endpoint.get_pipeline("7")
    with pytest.raises(RemoteConflictError, match=r"already exists; add a version to it") as taken:
        PipelineEndpoint.publish(rest_only, name, "", published)
    assert taken.value.code == "NameTaken"
    assert endpoint.default_version == "0" and endpoint.status == "Active"  # nothing changed on a refusal

    # REST: 404 names the id; 400 names the field (error.details[].target) and the fix
    def refused(path: str, body: Any, status: int, code: str, *needles: str, target: str | None = None) -> None:
        error = error_of(_post(http_base, path, body), status)
        assert error["code"] == code, error
        for needle in needles:
            assert needle in error["message"], (needle, error)
        if target is not None:
            assert [d["target"] for d in error["details"]] == [target], error

    refused("/api/pipelineendpoints", {"Name": f"x-{name}", "PipelineId": "ghost-pipeline"}, 404, "NotFound",
            "'ghost-pipeline'", "PublishedPipeline.list")
    refused("/api/pipelineendpoints", {"Name": f"x-{name}"}, 400, "MissingField", "PipelineId is required",
            target="PipelineId")
    refused("/api/pipelineendpoints", {"Name": "a/b", "PipelineId": published.id}, 400, "InvalidField", "'a/b'",
            "/ \\ # ?", target="Name")
    refused("/api/pipelineendpoints", {"Name": f"x-{name}", "PipelineId": published.id, "Pipeline": "x"}, 400,
            "UnknownField", "'Pipeline'", "accepted fields: Name, Description, PipelineId", target="Pipeline")
    refused("/api/pipelineendpoints", None, 400, "MissingBody", "send a JSON object such as")
    refused("/api/pipelineendpoints", {"Name": name, "PipelineId": published.id}, 409, "NameTaken",
            f"{name!r} already exists")
    refused(f"/api/pipelineendpoints/{name}/versions", {"PipelineId": "ghost-pipeline"}, 404, "NotFound",
            "'ghost-pipeline'")
    refused(f"/api/pipelineendpoints/{name}/versions", {"PipelineId": 5}, 400, "InvalidField",
            "PipelineId must be a string", target="PipelineId")
    refused(f"/api/pipelineendpoints/{name}/versions", {"PipelineId": published.id, "SetAsDefault": "yes"}, 400,
            "InvalidField", "SetAsDefault must be true or false", target="SetAsDefault")
    refused(f"/api/pipelineendpoints/{name}/defaultversion", {}, 400, "MissingField", "Version is required",
            target="Version")
    refused(f"/api/pipelineendpoints/{name}/defaultversion", {"Version": "latest"}, 400, "InvalidField",
            "'latest'", 'such as "1"', target="Version")
    refused(f"/api/pipelineendpoints/{name}/defaultversion", {"Version": "3"}, 404, "NotFound",
            "has no version '3'; its versions: 0")
    refused("/api/pipelineendpoints/ghost-endpoint/enable", None, 404, "NotFound", "'ghost-endpoint'",
            "PipelineEndpoint.list")
    refused("/api/pipelineendpoints/ghost-endpoint/versions", {"PipelineId": published.id}, 404, "NotFound",
            "'ghost-endpoint'")
    refused("/api/pipelines/ghost-pipeline/disable", None, 404, "NotFound", "'ghost-pipeline'")
    error = error_of(requests.get(f"{http_base}/api/pipelineendpoints/{name}", params={"by": "nickname"},
                                  timeout=10), 400)
    assert "'by' must be 'id' or 'name'" in error["message"] and error["details"][0]["target"] == "by"
    error = error_of(requests.get(f"{http_base}/api/pipelineendpoints/ghost-endpoint", timeout=10), 404)
    assert "'ghost-endpoint'" in error["message"]
    with pytest.raises(RemoteBadRequestError, match="'active_only' must be true or false, not 'sometimes'"):
        AmliteClient(http_base).get_json("/api/pipelineendpoints", {"active_only": "sometimes"})


# -- roles: the CI case, a token and the app URL ------------------------------------------------------
def test_entra_token_roles(entra_auth: LocalIssuer, http_base: str, ws: Workspace, rest_only: Workspace,
                           source_dir: Path) -> None:
    """Reading needs Pipelines.Read; enabling, disabling and endpoint changes need Pipelines.Publish."""
    publisher = Workspace(endpoint=http_base, storage=ws.storage, auth=Bearer(mint(entra_auth.key, roles=[PUBLISH])))
    published = publish_marker(publisher, source_dir, f"role-{uuid.uuid4().hex[:8]}")
    name = f"role-ep-{uuid.uuid4().hex[:8]}"
    publisher_rest_only = Workspace(endpoint=http_base, storage=rest_only.storage, auth=publisher._auth)
    PipelineEndpoint.publish(publisher_rest_only, name, "", published)

    reader = Workspace(endpoint=http_base, storage=rest_only.storage, auth=Bearer(mint(entra_auth.key, roles=[READ])))
    assert PublishedPipeline.get(reader, published.id).status == "Active"
    endpoint = PipelineEndpoint.get(reader, name=name)
    assert endpoint.get_pipeline().id == published.id
    with pytest.raises(RemoteAuthError, match=PUBLISH) as denied:
        PublishedPipeline.get(reader, published.id).disable()
    assert denied.value.status == 403
    with pytest.raises(RemoteAuthError, match=PUBLISH):
        endpoint.disable()
    assert PipelineEndpoint.get(reader, id=endpoint.id).status == "Active"

    anonymous = Workspace(endpoint=http_base, storage=rest_only.storage)
    with pytest.raises(RemoteAuthError) as unsigned:
        PipelineEndpoint.list(anonymous)
    assert unsigned.value.status == 401
