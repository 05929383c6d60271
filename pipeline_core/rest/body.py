"""Reading request bodies and query strings: every wrong shape becomes a 400 that names the field.

AML v1's service binds JSON with Newtonsoft, which matches property names
case-insensitively; clients written against it send ``experimentName`` as
often as ``ExperimentName``, so keys match case-insensitively here too. Unknown
keys are refused (a typo must not silently drop a parameter); keys AML knows but
amlite has no use for are accepted and turned into recorded notes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_core.application.names import is_text
from pipeline_core.rest.errors import ServiceError, bad_request
from pipeline_core.rest.request import ServiceRequest

MAX_BODY_BYTES = 4 * 1024 * 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """``1e400`` would become ``inf``, which cannot be answered back as JSON: refuse it like NaN."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def parse_json_object(body: bytes | str | None, what: str, example: str) -> dict[str, Any]:
    """The body as a JSON object; ``what`` names it and ``example`` shows a valid one in the message."""
    if body is None or (isinstance(body, (bytes, str)) and not body.strip()):
        raise bad_request(f"the {what} body is empty; send a JSON object such as {example}", "body",
                          "MissingBody")
    if len(body) > MAX_BODY_BYTES:
        raise ServiceError(413, "BodyTooLarge", f"the {what} body is {len(body)} bytes; the limit is "
                                                f"{MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise bad_request(f"the {what} body is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "send UTF-8 encoded JSON", "body", "MalformedJson") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise bad_request(f"the {what} body is not valid JSON: {exc.msg} at line {exc.lineno} column "
                          f"{exc.colno}; send a JSON object such as {example}", "body", "MalformedJson") from None
    except ValueError as exc:
        raise bad_request(f"the {what} body is not valid JSON: {exc}", "body", "MalformedJson") from None
    except RecursionError:
        raise bad_request(f"the {what} body nests arrays or objects too deeply to read; send a JSON object "
                          f"such as {example}", "body", "MalformedJson") from None
    if not isinstance(data, dict):
        raise bad_request(f"the {what} body must be a JSON object, not {json_type(data)}; send e.g. {example}",
                          "body", "MalformedJson")
    return data


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Fields:
    """A JSON object's members by canonical (PascalCase) name, checked against what is accepted."""

    def __init__(self, data: Mapping[str, Any], accepted: Sequence[str], ignored: Mapping[str, str] | None = None,
                 where: str = "body"):
        self.where = where
        self.values: dict[str, Any] = {}
        self.notes: list[str] = []
        canonical = {name.lower(): name for name in accepted}
        ignored_by_lower = {name.lower(): (name, why) for name, why in (ignored or {}).items()}
        seen: dict[str, str] = {}
        for key, value in data.items():
            lower = key.lower()
            if lower in seen:
                raise bad_request(f"{where} has both {seen[lower]!r} and {key!r}; send the field once", key)
            seen[lower] = key
            if lower in canonical:
                self.values[canonical[lower]] = value
            elif lower in ignored_by_lower:
                name, why = ignored_by_lower[lower]
                if value not in (None, {}, [], ""):
                    self.notes.append(f"{name} was accepted and ignored: {why}")
            else:
                raise bad_request(f"{where} has an unknown field {key!r}; accepted fields: "
                                  f"{', '.join(accepted)}", key, "UnknownField")

    def _target(self, name: str) -> str:
        return name if self.where == "body" else f"{self.where}.{name}"

    def present(self, name: str) -> bool:
        return self.values.get(name) is not None

    def string(self, name: str, required: bool = False, max_length: int = 1024) -> str | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{self._target(name)} is required (a string)", self._target(name),
                                  "MissingField")
            return None
        if not isinstance(value, str):
            raise bad_request(f"{self._target(name)} must be a string, not {json_type(value)} ({value!r})",
                              self._target(name), "InvalidField")
        if len(value) > max_length:
            raise bad_request(f"{self._target(name)} is {len(value)} characters; the limit is {max_length}",
                              self._target(name), "InvalidField")
        if not is_text(value):
            raise bad_request(f"{self._target(name)} holds an unpaired surrogate (\\ud800-\\udfff), which is not "
                              "text; send it as UTF-8 or as a valid \\u escape pair", self._target(name),
                              "InvalidField")
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise bad_request(f"{self._target(name)} must be true or false, not {json_type(value)} ({value!r})",
                              self._target(name), "InvalidField")
        return value

    def obj(self, name: str, required: bool = False) -> dict[str, Any] | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{self._target(name)} is required (a JSON object)", self._target(name),
                                  "MissingField")
            return None
        if not isinstance(value, dict):
            raise bad_request(f"{self._target(name)} must be a JSON object, not {json_type(value)}",
                              self._target(name), "InvalidField")
        return value


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def query_bool(request: ServiceRequest, name: str, default: bool) -> bool:
    raw = request.query_value(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise bad_request(f"query parameter {name!r} must be true or false, not {raw!r}", name, "InvalidQuery")


def query_int(request: ServiceRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_value(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name!r} must be a whole number from {low} to {high}, not {raw!r}",
                          name, "InvalidQuery") from None
    if not low <= value <= high:
        raise bad_request(f"query parameter {name!r} must be from {low} to {high}, not {value}", name,
                          "InvalidQuery")
    return value
