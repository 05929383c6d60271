"""In-memory Durable Functions support for the dev host: engine, replay, RPC."""

from .engine import SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, DurableEngine
from .models import (
    DurableError,
    InstanceCompletedError,
    InstanceExistsError,
    InstanceNotFoundError,
    InstanceStatus,
    NonDeterminismError,
    OrchestratorNotFoundError,
    RuntimeStatus,
)

__all__ = [
    "SCHEMA_V1",
    "SCHEMA_V2",
    "SCHEMA_V3",
    "DurableEngine",
    "DurableError",
    "InstanceCompletedError",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InstanceStatus",
    "NonDeterminismError",
    "OrchestratorNotFoundError",
    "RuntimeStatus",
]
