"""The one exception the HTTP layer has to know about for auth: defined in :mod:`pipeline_core.errors`.

Every refusal carries the HTTP status, a stable machine code and a message
that names what was wrong and how to fix it; this module keeps the names where
the auth package's callers import them.
"""

from __future__ import annotations

from pipeline_core.errors import AuthConfigError, AuthError

__all__ = ["AuthConfigError", "AuthError"]
