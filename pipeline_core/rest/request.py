"""Plain request and response values exchanged with the HTTP layer (no web framework types).

The Functions handlers build a :class:`ServiceRequest` from what the trigger
gives them and turn a :class:`ServiceResponse` back into an ``HttpResponse``;
everything in between is ordinary Python that tests call directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOCAL_BASE_URL = "http://127.0.0.1:7071"


def normalize_base_url(base_url: str | None) -> str:
    """``scheme://host[:port]`` without a trailing ``/`` or ``/api`` (route paths carry ``/api``)."""
    base = (base_url or "").strip().rstrip("/") or LOCAL_BASE_URL
    if base.endswith("/api"):
        base = base[: -len("/api")]
    return base


@dataclass(frozen=True)
class ServiceRequest:
    """One request: route values (already URL-decoded), query, headers (any case), raw body."""

    route_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = LOCAL_BASE_URL
    method: str = "GET"
    principal_id: str | None = None
    #: Start a created run with ``engine.launch.launch_run``. ``False`` when the caller starts it
    #: itself (e.g. through the Durable client): the response's ``launch_run_id`` names the run to start.
    launch: bool = True
    #: With ``launch`` False: the Durable task hub the caller starts created runs in (written on the run row
    #: as it is created, so the start needs no write before it).
    task_hub: str | None = None

    @property
    def base(self) -> str:
        return normalize_base_url(self.base_url)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def query_value(self, name: str) -> str | None:
        """Query names match case-insensitively, as ASP.NET (and so AML) binds them."""
        wanted = name.lower()
        for key, value in self.query.items():
            if key.lower() == wanted:
                return value
        return None

    def route(self, *names: str) -> str:
        """The first of ``names`` present in the route (aliases name some values differently)."""
        for name in names:
            value = self.route_params.get(name)
            if value is not None:
                return value
        return ""


@dataclass
class ServiceResponse:
    """``body`` is JSON-ready data, or ``str`` when ``content_type`` is text."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    #: Set only when the request created a run and ``ServiceRequest.launch`` was False: the caller must
    #: start this run now. Never set for an idempotent replay (the first request owns the start).
    launch_run_id: str | None = None
    #: That run's row as created (with its ETag): ``start_or_fail(..., created=launch_row)`` starts it
    #: without reading it again.
    launch_row: dict[str, Any] | None = None

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and not self.content_type.startswith("application/json"):
            # Text built from stored data (a page, a log) may hold a lone surrogate that an older
            # submit let through: it answers as U+FFFD-like '?', never as a 500.
            return self.body.encode("utf-8", "replace")
        return json.dumps(self.body, sort_keys=False).encode("utf-8")
