"""The REST API's pipeline and endpoint entities as the records storage holds (``PipelineRecord``, ``EndpointView``).

Why records and not SDK objects: the client is a leaf (it knows nothing of
``PublishedPipeline`` or ``PipelineEndpoint``), and a local workspace reads the
very same records from its tables, so the SDK builds its objects one way.
These are the inverses of ``rest.pipelines.entities.pipeline_entity`` / ``rest.endpoints.entities.endpoint_entity``.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.spec_types import ParameterEntry
from pipeline_core.storage.endpoint_store import EndpointRecord, EndpointVersion, EndpointView
from pipeline_core.storage.pipeline_store import PipelineRecord

Entity = dict[str, Any]


def pipeline_record(entity: Entity) -> PipelineRecord:
    parameters = {str(name): ParameterEntry(type=str(p.get("Type") or ""), default=p.get("DefaultValue"))
                  for name, p in (entity.get("Parameters") or {}).items() if isinstance(p, dict)}
    return PipelineRecord(id=str(entity["Id"]), name=str(entity["Name"]), graph_id=str(entity["GraphId"]),
                          description=entity.get("Description") or "", version=entity.get("Version") or "",
                          status=str(entity["Status"]),
                          continue_on_step_failure=bool(entity.get("ContinueOnStepFailure")),
                          total_run_steps=int(entity.get("TotalRunSteps") or 0), parameters=parameters,
                          created_time=entity.get("CreatedTime") or "", updated_time=entity.get("UpdatedTime") or "")


def endpoint_view(entity: Entity) -> EndpointView:
    versions = [EndpointVersion(str(v["Version"]), str(v["PipelineId"]), v.get("CreatedTime") or "")
                for v in entity.get("Versions") or []]
    record = EndpointRecord(id=str(entity["Id"]), name=str(entity["Name"]), description=entity.get("Description") or "",
                            status=str(entity["Status"]), default_version=str(entity["DefaultVersion"]),
                            version_count=len(versions), created_time=entity.get("CreatedTime") or "",
                            updated_time=entity.get("UpdatedTime") or "")
    return EndpointView(record, versions)
