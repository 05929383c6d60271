"""Building blocks of the OpenAPI schemas, shared by the run/pipeline and schedule schema modules."""

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
