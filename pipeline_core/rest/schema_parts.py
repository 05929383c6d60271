"""Building blocks of the OpenAPI schemas, shared by every resource's schema module."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str = "", nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if description:
        schema["description"] = description
    if nullable:
        schema["nullable"] = True
    return schema


#: A timestamp that is null until it happens.
TIME: dict[str, Any] = {"type": "string", "format": "date-time", "nullable": True}


def list_of(name: str) -> dict[str, Any]:
    """A ``{"Value": [...]}`` page of ``name`` items (every list answer of the API)."""
    return {"type": "object", "required": ["Value"], "properties": {"Value": {"type": "array", "items": ref(name)}}}
