"""Which strings can be Table storage keys: the guard between a URL segment and a point read.

A run id such as ``a/b`` in a URL would otherwise reach ``get_entity`` and come
back from the storage service as a 400/500, i.e. a server error for what is
only a wrong id. Anything that cannot be a key cannot name a stored object, so
the service answers 404 (route values) or 400 (body fields) before any I/O.
"""

from __future__ import annotations

from pipeline_core.rest.errors import ServiceError, bad_request
from pipeline_core.rest.request import ServiceRequest

MAX_KEY_LENGTH = 255
_FORBIDDEN = frozenset("/\\#?")


def is_text(value: str) -> bool:
    """False for a string with lone surrogates (JSON's ``"\\ud800"``): it cannot be sent to storage as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_key_safe(value: str) -> bool:
    return (0 < len(value) <= MAX_KEY_LENGTH and is_text(value)
            and not any(ch in _FORBIDDEN or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value))


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
