"""Reading a publish body, and the ``PipelineSpec`` a publish or a spec submit (``POST /api/runs``) carries.

A posted spec can be anything: it is shape-checked (``application.spec_check``)
before any engine code reads it, then checked as a publish checks it (uploaded
snapshots, graph validation), each problem a 400 naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_core.application.publishing import data_check, missing_snapshots, snapshot_files
from pipeline_core.application.spec_check import check_spec_document
from pipeline_core.engine.services import Services
from pipeline_core.rest.body import json_type
from pipeline_core.rest.errors import ServiceError, bad_request
from pipeline_core.spec import PipelineSpec
from pipeline_core.spec_types import as_spec_doc
from pipeline_core.validation import validate_spec

PUBLISH_FIELDS = ("Name", "Description", "Version", "ContinueOnStepFailure", "PipelineSpec")
PUBLISH_EXAMPLE = '{"Name": "train", "Version": "1", "PipelineSpec": {...Pipeline.spec().to_json()...}}'


def spec_document(value: Any) -> dict[str, Any]:
    """``PipelineSpec`` as an object, or as the JSON text ``PipelineSpec.to_json()`` returns."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise bad_request(f"PipelineSpec is a string but not valid JSON ({exc.msg} at line {exc.lineno}); "
                              "send the spec object or the text of Pipeline.spec().to_json()", "PipelineSpec",
                              "InvalidPipelineSpec") from None
    if not isinstance(value, dict):
        raise bad_request(f"PipelineSpec must be a JSON object, not {json_type(value)}", "PipelineSpec",
                          "InvalidPipelineSpec")
    problems = check_spec_document(value)
    if problems:
        raise ServiceError(400, "InvalidPipelineSpec", "PipelineSpec is malformed: " + "; ".join(problems[:5]),
                           [{"target": getattr(p, "target", "PipelineSpec"), "message": p} for p in problems])
    doc = {k: v for k, v in value.items() if k not in ("graph_id", "local")}
    doc.setdefault("parameters", {})
    doc.setdefault("data", {})
    doc.setdefault("edges", [])
    return doc


def checked_spec(services: Services, doc: dict[str, Any]) -> PipelineSpec:
    """A posted spec that is safe to store and run: snapshots uploaded, graph valid (publish and ``POST /api/runs``)."""
    spec = PipelineSpec(as_spec_doc(doc))
    snapshots = missing_snapshots(services, spec)
    if snapshots:
        raise ServiceError(400, "SnapshotMissing", snapshots[0],
                           [{"target": "PipelineSpec.steps", "message": m} for m in snapshots])
    try:
        errors = validate_spec(spec, data_check(services), snapshot_files(services))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad_request(f"PipelineSpec could not be validated ({type(exc).__name__}: {exc}); send the spec "
                          "exactly as Pipeline.spec().to_json() built it", "PipelineSpec",
                          "InvalidPipelineSpec") from None
    if errors:
        raise ServiceError(400, "PipelineValidationFailed", "the pipeline is not valid: " + "; ".join(errors[:5]),
                           [{"target": getattr(e, "target", "PipelineSpec"), "message": e} for e in errors])
    return spec
