"""Which active schedules point at a published pipeline or endpoint.

Disabling a pipeline that a schedule still fires would make every future fire
fail, so ``disable`` asks here first and refuses while the answer is not empty.
One query of the ``schedules`` partition each.
"""

from __future__ import annotations

from pipeline_core.engine.services import Services
from pipeline_core.storage.schedule_store import ScheduleRecord, ScheduleStore


def _describe(records: list[ScheduleRecord]) -> list[str]:
    return [f"{r.id} ({r.name})" for r in records]


def active_schedules_for(services: Services, pipeline_id: str) -> list[str]:
    """Active schedules that submit ``pipeline_id``, as ``"<id> (<name>)"``."""
    return _describe(ScheduleStore(services.account).list(active_only=True, pipeline_id=pipeline_id))


def active_schedules_for_endpoint(services: Services, endpoint_id: str) -> list[str]:
    """Active schedules that submit to pipeline endpoint ``endpoint_id``, as ``"<id> (<name>)"``."""
    return _describe(ScheduleStore(services.account).list(active_only=True, pipeline_endpoint_id=endpoint_id))
