"""Which strings can be Table storage keys (a published pipeline's name, a datastore, an id in a spec).

A key holding ``/``, ``\\``, ``#``, ``?`` or a control character cannot name a
stored object, so checks refuse it before any I/O: the REST layer answers 404
for such a route value and 400 for such a body field (``rest.keys``), the spec
check names the field.
"""

from __future__ import annotations

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
