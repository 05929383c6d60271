"""The publishing tables for a ``Services`` bundle (cheap wrappers: the account caches the clients)."""

from __future__ import annotations

from pipeline_core.engine.services import Services
from pipeline_core.storage.endpoint_store import EndpointStore
from pipeline_core.storage.idempotency_store import IdempotencyStore
from pipeline_core.storage.pipeline_store import PipelineStore


def pipeline_store(services: Services) -> PipelineStore:
    return PipelineStore(services.account)


def endpoint_store(services: Services) -> EndpointStore:
    return EndpointStore(services.account)


def idempotency_store(services: Services) -> IdempotencyStore:
    return IdempotencyStore(services.account)
