"""The one exception the HTTP layer has to know about.

Every refusal carries the HTTP status, a stable machine code and a message
that names what was wrong and how to fix it. Messages are built only from
settings and claim *names*, never from the token or any secret, so the HTTP
layer can return them verbatim.
"""

from __future__ import annotations

from typing import Any


class AuthError(Exception):
    """A request was refused.

    ``status`` is 401 (who you are is unknown or unproven), 403 (known, but
    not allowed, or the server refuses this auth mode) or 503 (the signing keys
    could not be fetched, so no token can be checked right now; retry later).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error body of ARCHITECTURE.md §7: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": []}}

    def headers(self) -> dict[str, str]:
        """Response headers: RFC 6750 asks 401 answers to say which scheme to use."""
        if self.status != 401:
            return {}
        error = (
            "invalid_request" if self.code in ("MissingToken", "UnsupportedAuthScheme") else "invalid_token"
        )
        return {"WWW-Authenticate": f'Bearer realm="amlite", error="{error}"'}


class AuthConfigError(AuthError):
    """The server's auth settings are missing or inconsistent.

    A subclass of :class:`AuthError` (403) so the HTTP layer needs one
    ``except``: the request is refused by server policy, and the message names
    the app setting to fix. :meth:`AuthSettings.problems` reports the same at
    start-up.
    """

    def __init__(self, message: str, code: str = "AuthNotConfigured") -> None:
        super().__init__(403, code, message)
