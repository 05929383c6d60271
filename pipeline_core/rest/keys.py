"""The guard between a URL segment (or a body field) and a point read: 404 (or 400) for what cannot be a key.

A run id such as ``a/b`` in a URL would otherwise reach ``get_entity`` and come
back from the storage service as a 400/500, i.e. a server error for what is
only a wrong id. Anything that cannot be a key cannot name a stored object, so
the service answers 404 (route values) or 400 (body fields) before any I/O.
"""

from __future__ import annotations

from pipeline_core.application.names import MAX_KEY_LENGTH, is_key_safe
from pipeline_core.rest.errors import ServiceError, bad_request
from pipeline_core.rest.request import ServiceRequest


def route_key(request: ServiceRequest, what: str, *names: str) -> str:
    """The route value under the first of ``names``, or 404 when it cannot name anything stored."""
    value = request.route(*names)
    if not is_key_safe(value):
        raise ServiceError(404, "NotFound", f"{what} {value[:80]!r} was not found: such ids are 1-{MAX_KEY_LENGTH} "
                                            "characters without / \\ # ? or control characters")
    return value


def body_key(value: str, target: str) -> str:
    if not is_key_safe(value):
        raise bad_request(f"{target} {value[:80]!r} is not a valid name: use 1-{MAX_KEY_LENGTH} characters "
                          "without / \\ # ? or control characters", target, "InvalidField")
    return value
