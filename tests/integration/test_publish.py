"""Publishing from the SDK: PublishedPipeline and PipelineEndpoint against Azurite."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from publish_helpers import echo_pipeline, upload_text, wait_terminal

from pipeline_core import Experiment, Pipeline, PipelineEndpoint, PublishedPipeline, Workspace
from pipeline_core.application.errors import ConflictError
from pipeline_core.engine.services import services_for
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.storage.endpoint_store import NameTakenError

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(workspace: Workspace, source_dir: Path, tmp_path: Path) -> Pipeline:
    return echo_pipeline(workspace, source_dir, upload_text(workspace, tmp_path, "from-default"))


def _name() -> str:
    return f"pub-{uuid.uuid4().hex[:8]}"


def test_publish_get_list_disable_enable(workspace: Workspace, pipeline: Pipeline) -> None:
    name = _name()
    published = pipeline.publish(name=name, description="echo things", version="1.0")
    assert isinstance(published, PublishedPipeline)
    assert (published.name, published.description, published.version, published.status) == \
        (name, "echo things", "1.0", "Active")
    assert published.endpoint == f"http://127.0.0.1:7071/api/pipelines/{published.id}/runs"
    assert published.total_run_steps == 1 and published.continue_on_step_failure is False
    assert published.graph_id == pipeline.graph_id

    again = PublishedPipeline.get(workspace, published.id)
    assert (again.id, again.name, again.version, again.graph_id) == (published.id, name, "1.0", pipeline.graph_id)
    assert again.get_step_names() == ["echo"]
    assert published.id in {p.id for p in PublishedPipeline.list(workspace)}

    published.disable()
    assert published.status == "Disabled"
    assert PublishedPipeline.get(workspace, published.id).status == "Disabled"
    assert published.id not in {p.id for p in PublishedPipeline.list(workspace)}
    assert published.id in {p.id for p in PublishedPipeline.list(workspace, active_only=False)}
    with pytest.raises(ConflictError, match="Disabled"):
        published.submit(workspace, "never-runs")

    published.enable()
    assert PublishedPipeline.get(workspace, published.id).status == "Active"


def test_endpoint_url_follows_workspace_endpoint(azurite: str, pipeline: Pipeline) -> None:
    """A published pipeline seen through a remote workspace is POSTed at that workspace's app (no call made here:
    the record is read from storage; tests/http/test_remote_management.py covers the REST read)."""
    from pipeline_core.application.stores import pipeline_store
    from pipeline_core.engine.services import services_for

    remote = Workspace(storage=azurite, endpoint="https://myapp.azurewebsites.net/")
    published = pipeline.publish(name=_name())
    record = pipeline_store(services_for(azurite)).get(published.id)
    assert PublishedPipeline._from_record(remote, record).endpoint == \
        f"https://myapp.azurewebsites.net/api/pipelines/{published.id}/runs"


def test_publish_refuses_bad_input(workspace: Workspace, pipeline: Pipeline) -> None:
    with pytest.raises(AmliteError, match="name="):
        pipeline.publish()
    with pytest.raises(AmliteError, match="invalid"):
        pipeline.publish(name="a/b")
    with pytest.raises(NotFoundError, match="was not found"):
        PublishedPipeline.get(workspace, str(uuid.uuid4()))


def test_disable_refused_while_schedule_is_active(workspace: Workspace, pipeline: Pipeline,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    published = pipeline.publish(name=_name())
    monkeypatch.setattr("pipeline_core.application.publishing.active_schedules_for",
                        lambda services, pipeline_id: ["nightly-retrain"])
    with pytest.raises(ConflictError, match="nightly-retrain"):
        published.disable()
    assert PublishedPipeline.get(workspace, published.id).status == "Active"


def test_experiment_submit_published_pipeline(workspace: Workspace, pipeline: Pipeline, experiment_name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    published = pipeline.publish(name=_name(), continue_on_step_failure=True)
    run = Experiment(workspace, experiment_name).submit(published, pipeline_parameters={"greeting": "hey",
                                                                                      "count": 2},
                                                        tags={"team": "ml"})
    assert run.wait_for_completion(show_output=False) == "Finished"
    details = run.get_details()
    assert details["pipelineId"] == published.id and details["tags"] == {"team": "ml"}
    assert details["parameters"]["greeting"] == "hey"
    assert "RESULT: hey hey | from-default" in run.find_step_run("echo")[0].get_job_log()
    row = services_for(workspace.storage).runs.get_run(run.id)
    assert row["continue_on_step_failure"] is True and row["run_source"] == "SDK"

    # AML v1 runs a published pipeline with undeclared ParameterAssignments and ignores them; so do we, saying so.
    lenient = published.submit(workspace, experiment_name, pipeline_parameters={"nope": 1, "greeting": "yo"})
    row = services_for(workspace.storage).runs.get_run(lenient.id)
    assert row["parameters"]["greeting"] == "yo" and "nope" not in row["parameters"]
    assert "['nope'] are not declared by this pipeline and were ignored" in row["recorded"]["notes"][0]
    lenient.cancel()
    with monkeypatch.context() as strict:
        strict.setenv("AMLITE_STRICT_PARAMETERS", "true")
        with pytest.raises(AmliteError, match="unknown pipeline parameter 'nope'"):
            published.submit(workspace, experiment_name, pipeline_parameters={"nope": 1})
    with pytest.raises(AmliteError, match="unknown arguments"):
        Experiment(workspace, experiment_name).submit(published, bogus=1)


def test_pipeline_run_publish_pipeline(workspace: Workspace, pipeline: Pipeline, experiment_name: str) -> None:
    run = pipeline.submit(experiment_name)
    published = run.publish_pipeline(name=_name(), description="from a run", version="7")
    assert published.graph_id == pipeline.graph_id and published.version == "7"
    assert PublishedPipeline.get(workspace, published.id).description == "from a run"
    run.wait_for_completion(show_output=False)


def test_endpoint_versions_default_and_submit(workspace: Workspace, source_dir: Path, tmp_path: Path,
                                              experiment_name: str) -> None:
    prefix = upload_text(workspace, tmp_path, "x")
    first = echo_pipeline(workspace, source_dir, prefix, greeting="v0").publish(name=_name())
    second = echo_pipeline(workspace, source_dir, prefix, greeting="v1").publish(name=_name())
    assert first.graph_id != second.graph_id
    name = _name()
    endpoint = PipelineEndpoint.publish(workspace, name=name, description="stable url", pipeline=first)
    assert endpoint.default_version == "0" and endpoint.status == "Active"
    assert endpoint.endpoint.startswith("http://127.0.0.1:7071/api/pipelines/v1.0/subscriptions/")
    assert endpoint.endpoint.endswith(f"/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint.id}")  # AML's URL shape
    assert [(v.pipeline_id, v.version) for v in endpoint.list_versions()] == [(first.id, "0")]

    endpoint.add(second)
    assert [v.version for v in endpoint.list_versions()] == ["0", "1"]
    assert endpoint.get_default_version() == "0"
    endpoint.add_default(second)  # already on the endpoint: no new version, becomes the default
    assert [v.version for v in endpoint.list_versions()] == ["0", "1"]
    assert endpoint.get_default_version() == "1"
    assert endpoint.get_pipeline().id == second.id
    endpoint.set_default_version("0")
    assert PipelineEndpoint.get(workspace, name=name).get_default_version() == "0"
    assert PipelineEndpoint.get(workspace, id=endpoint.id).get_pipeline("1").id == second.id
    assert endpoint.id in {e.id for e in PipelineEndpoint.list(workspace)}
    with pytest.raises(NotFoundError, match="versions: 0, 1"):
        endpoint.set_default_version("7")
    with pytest.raises(NameTakenError):
        PipelineEndpoint.publish(workspace, name=name, description="", pipeline=first)

    run = endpoint.submit(experiment_name, pipeline_version="1")
    row = services_for(workspace.storage).runs.get_run(run.id)
    assert row["pipeline_id"] == second.id and row["pipeline_endpoint_id"] == endpoint.id
    default_run = Experiment(workspace, experiment_name).submit(endpoint, pipeline_parameters={"count": 2})
    assert default_run.wait_for_completion(show_output=False) == "Finished"
    assert "RESULT: v0 v0 | x" in default_run.find_step_run("echo")[0].get_job_log()

    endpoint.disable()
    assert endpoint.id not in {e.id for e in PipelineEndpoint.list(workspace)}
    with pytest.raises(ConflictError, match="Disabled"):
        endpoint.submit(experiment_name)
    endpoint.enable()
    wait_terminal(services_for(workspace.storage), run.id)


def test_endpoint_publish_from_pipeline_and_concurrent_adds(workspace: Workspace, pipeline: Pipeline) -> None:
    endpoint = PipelineEndpoint.publish(workspace, name=_name(), description="d", pipeline=pipeline)
    assert endpoint.get_pipeline().graph_id == pipeline.graph_id
    others = [pipeline.publish(name=_name()) for _ in range(4)]
    barrier = threading.Barrier(len(others))

    def add(p: PublishedPipeline) -> None:
        barrier.wait()
        PipelineEndpoint.get(workspace, id=endpoint.id).add(p)

    threads = [threading.Thread(target=add, args=(p,)) for p in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = endpoint.list_versions()
    assert [v.version for v in versions] == ["0", "1", "2", "3", "4"]
    assert {v.pipeline_id for v in versions[1:]} == {p.id for p in others}
