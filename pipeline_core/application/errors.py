"""The refusals the use cases raise live in the one error tree (``pipeline_core.errors``); this name stays."""

from __future__ import annotations

from pipeline_core.errors import ConflictError as ConflictError

__all__ = ["ConflictError"]
