"""The AML v1 request bodies the SDK sends: submit fields and the spec, as the REST API reads them.

Pure functions of their arguments (no workspace, no storage), so the remote
backend and the tests build the same bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core.data.datapath import DataPath
from pipeline_core.engine.submit import ParameterError

if TYPE_CHECKING:
    from pipeline_core.spec import PipelineSpec

Entity = dict[str, Any]


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
