"""The JSON shape of a published pipeline, in AML v1's PascalCase (its schema: ``schemas.py`` next to this)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.links import pipeline_submit_url
from pipeline_core.storage.pipeline_store import PipelineRecord


def pipeline_entity(record: PipelineRecord, base: str) -> dict[str, Any]:
    url = pipeline_submit_url(base, record.id)
    return {
        "Id": record.id,
        "Name": record.name,
        "Description": record.description,
        "Version": record.version or None,
        "Status": record.status,
        "GraphId": record.graph_id,
        "ContinueOnStepFailure": record.continue_on_step_failure,
        "TotalRunSteps": record.total_run_steps,
        "Parameters": {name: {"Type": p.get("type"), "DefaultValue": p.get("default")}
                       for name, p in sorted(record.parameters.items())},
        "CreatedTime": record.created_time or None,
        "UpdatedTime": record.updated_time or None,
        "Endpoint": url,
        "Url": url,
    }
