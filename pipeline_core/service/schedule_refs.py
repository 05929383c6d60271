"""Which active schedules point at a published pipeline or endpoint.

A hook, not a feature: disabling a pipeline that a schedule still fires would
make every future fire fail, so ``disable`` asks here first. Schedules do not
exist yet; when they do, these functions query the ``schedules`` table and
nothing that calls them changes.
"""

from __future__ import annotations

from pipeline_core.engine.services import Services


def active_schedules_for(services: Services, pipeline_id: str) -> list[str]:
    """Ids of active schedules that submit ``pipeline_id``; ``[]`` until schedules exist."""
    return []


def active_schedules_for_endpoint(services: Services, endpoint_id: str) -> list[str]:
    """Ids of active schedules that submit to pipeline endpoint ``endpoint_id``; ``[]`` until schedules exist."""
    return []
