"""What the SDK classes do when their workspace has an ``endpoint``: the same calls, made over REST.

Snapshots go to the workspace's storage first (content-addressed, as AML v1
uploads snapshots to the workspace's storage account), then the spec travels
in the request; the server checks that every snapshot is there. So a remote
workspace needs both the Functions app URL and the storage account the app
uses (config.json ``endpoint`` + ``storage``, or ``AMLITE_ENDPOINT`` +
``AMLITE_STORAGE``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core.client.api import Entity, client_for
from pipeline_core.client.http import is_loopback
from pipeline_core.data.datapath import DataPath
from pipeline_core.engine.submit import ParameterError
from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace
    from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline
    from pipeline_core.pipeline.core.run import PipelineRun
    from pipeline_core.spec import PipelineSpec

def upload_snapshots(workspace: Workspace, spec: PipelineSpec) -> None:
    """Put the spec's snapshots (and spec blob) in the workspace storage the Functions app reads."""
    from pipeline_core.engine.services import services_for
    from pipeline_core.storage.account import get_account

    endpoint = workspace.endpoint or ""
    if get_account(workspace.storage).is_local and not is_loopback(endpoint):
        raise AmliteError(
            f"workspace endpoint {endpoint!r} is a remote Functions app, but the workspace storage is the local "
            "emulator, so the app could not read the step snapshots. Set 'storage' in config.json (or "
            "AMLITE_STORAGE) to the app's storage account: a connection string or https://<account>.blob.core."
            "windows.net")
    from pipeline_core.engine.submit import upload_spec_and_snapshots

    upload_spec_and_snapshots(services_for(workspace.storage), spec)


def spec_document(spec: PipelineSpec) -> dict[str, Any]:
    """The spec as sent: without ``local`` (this machine's folder paths mean nothing to the server)."""
    return {key: value for key, value in spec.doc.items() if key != "local"}


def assignments(values: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """``pipeline_parameters`` -> (ParameterAssignments, DataPathAssignments), as AML v1's REST body has them."""
    scalars: dict[str, Any] = {}
    datapaths: dict[str, dict[str, str]] = {}
    for name, value in (values or {}).items():
        if isinstance(value, dict) and ("datastore" in value or "DataStoreName" in value):
            value = DataPath.from_dict(value)
        if isinstance(value, DataPath):
            datapaths[name] = {"DataStoreName": value.datastore_name, "RelativePath": value.path_on_datastore or ""}
        elif isinstance(value, (str, int, float, bool)):
            scalars[name] = value
        else:
            raise ParameterError(f"pipeline parameter {name!r}: {type(value).__name__} {value!r} cannot be sent; "
                                 "use a string, number, boolean or DataPath")
    return scalars, datapaths


def submit_body(experiment_name: str, kwargs: dict[str, Any], tags: dict[str, str] | None) -> Entity:
    """The AML v1 submit body; fields left unset are left out, so the server applies its own defaults."""
    parameters, datapaths = assignments(kwargs.get("pipeline_parameters"))
    body: Entity = {"ExperimentName": experiment_name, "RunSource": "SDK"}
    optional = {"ParameterAssignments": parameters, "DataPathAssignments": datapaths, "Tags": tags or None,
                "Description": kwargs.get("description"),
                "ContinueOnStepFailure": kwargs.get("continue_on_step_failure"),
                "RegenerateOutputs": True if kwargs.get("regenerate_outputs") else None,
                "ParentRunId": kwargs.get("parent_run_id")}
    body.update({key: value for key, value in optional.items() if value not in (None, {}, "")})
    return body


def submit_pipeline(experiment: Experiment, spec: PipelineSpec, tags: dict[str, str] | None,
                    kwargs: dict[str, Any]) -> PipelineRun:
    """``Experiment.submit(pipeline)``: upload snapshots, then ``POST /api/runs`` with the spec."""
    from pipeline_core.pipeline.core.run import PipelineRun

    upload_snapshots(experiment.workspace, spec)
    body = submit_body(experiment.name, kwargs, tags)
    body["PipelineSpec"] = spec_document(spec)
    entity = client_for(experiment.workspace).submit_spec(body)
    return PipelineRun(experiment, entity["Id"])


def submit_to(experiment: Experiment, submit_url: str, tags: dict[str, str] | None, kwargs: dict[str, Any],
              version: str | None = None) -> PipelineRun:
    """A published pipeline's or endpoint's submit: POST the AML v1 body to its ``endpoint`` URL."""
    from pipeline_core.pipeline.core.run import PipelineRun

    entity = client_for(experiment.workspace).submit_to(submit_url, submit_body(experiment.name, kwargs, tags),
                                                       version)
    return PipelineRun(experiment, entity["Id"])


def published_from_entity(workspace: Workspace, entity: Entity) -> PublishedPipeline:
    from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline, api_base
    from pipeline_core.rest.links import pipeline_submit_url

    return PublishedPipeline(
        name=entity["Name"], graph_id=entity["GraphId"], description=entity.get("Description") or "",
        version=entity.get("Version") or "", published_pipeline_id=entity["Id"], status=entity["Status"],
        endpoint=pipeline_submit_url(api_base(workspace), entity["Id"]),
        total_run_steps=int(entity.get("TotalRunSteps") or 0), workspace=workspace,
        continue_on_step_failure=entity.get("ContinueOnStepFailure"))


def publish(workspace: Workspace, spec: PipelineSpec, name: str, description: str | None, version: str | None,
            continue_on_step_failure: bool | None) -> PublishedPipeline:
    """``Pipeline.publish``: upload snapshots, then ``POST /api/pipelines`` with the spec."""
    upload_snapshots(workspace, spec)
    body: Entity = {"Name": name, "PipelineSpec": spec_document(spec)}
    optional = {"Description": description, "Version": None if version is None else str(version),
                "ContinueOnStepFailure": continue_on_step_failure}
    body.update({key: value for key, value in optional.items() if value is not None})
    return published_from_entity(workspace, client_for(workspace).publish(body))


def list_runs(experiment: Experiment) -> list[PipelineRun]:
    from pipeline_core.pipeline.core.run import PipelineRun

    entities = client_for(experiment.workspace).list_experiment_runs(experiment.name)
    return [PipelineRun(experiment, entity["Id"]) for entity in entities]
