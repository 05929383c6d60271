"""The JSON shape of a pipeline endpoint and its versions (its schema: ``schemas.py`` next to this)."""

from __future__ import annotations

from typing import Any

from pipeline_core.rest.links import endpoint_submit_url
from pipeline_core.storage.endpoint_store import EndpointRecord, EndpointVersion


def endpoint_entity(record: EndpointRecord, versions: list[EndpointVersion], base: str) -> dict[str, Any]:
    return {
        "Id": record.id,
        "Name": record.name,
        "Description": record.description,
        "Status": record.status,
        "DefaultVersion": record.default_version,
        "Versions": [{"Version": v.version, "PipelineId": v.pipeline_id, "CreatedTime": v.created_time or None}
                     for v in versions],
        "Endpoint": endpoint_submit_url(base, record.id),
        "CreatedTime": record.created_time or None,
        "UpdatedTime": record.updated_time or None,
    }
