"""The run context service: a loopback HTTP service through which a running step reaches its own run.

Why: a step's environment holds no storage key, connection string or function
key (ARCHITECTURE §8), so ``Run.get_context().log(...)`` cannot write to storage
itself. The process that runs the step (the Functions worker on Azure, the dev
host or the local engine here) starts this service once, on 127.0.0.1 and a
free port, and gives each step attempt ``AMLITE_RUN_CONTEXT_URL`` and a random
``AMLITE_RUN_TOKEN``. The token is good for that step run and its pipeline run
(``run.parent``) only, and only while the step runs: it is revoked when the
attempt ends, and refused once the step row is terminal. Every name a step
sends is checked here (artifact names as paths), never trusted.

The rejected alternative was handing the step SAS URLs: a SAS cannot check
names or values, cannot express "only this step's metric rows" over a table
partition shared by the whole run, needs an account key for Table storage
(no user delegation SAS exists for tables, and a keyless app has no key), and
stays valid until it expires rather than until the step ends.

Routes (all under ``/v1``, ``Authorization: Bearer <token>``):
``GET runs/{id}``, ``POST|GET runs/{id}/metrics``, ``POST|GET runs/{id}/tags``,
``POST runs/{id}/properties``, ``PUT|GET runs/{id}/files``,
``GET runs/{id}/files/content``, ``POST runs/{id}/models``, ``GET models``,
``POST models/local``, ``POST models/uploads``, ``PUT models/uploads/{id}``,
``POST models``, ``POST|DELETE models/{name}/{version}``. Errors answer
``{"error": {"code", "message", "details"}}``: 401 for a missing or unknown
token, 403 for another run's id or a step that has ended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError
from pipeline_core.runcontext.client import TOKEN_VARIABLE as TOKEN_VARIABLE
from pipeline_core.runcontext.client import URL_VARIABLE as URL_VARIABLE
from pipeline_core.runcontext.routes import ROUTES, Call, Grant, Refused
from pipeline_core.storage.run_store import TERMINAL

log = logging.getLogger("amlite.runcontext")

STATUS_RECHECK_SECONDS = 2.0


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _status_for(exc: AmliteError) -> tuple[int, str]:
    """The error's own status (a server-side amlite error answers 500); the code is the class name the client maps."""
    return (exc.status if exc.caller_error else 500), type(exc).__name__


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a step's client reuses one connection
    timeout = 300  # an idle kept-alive connection is closed after this
    service: RunContextService  # set on the subclass each service makes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("run context %s: " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            found = next(((handler, match) for route_method, pattern, handler in ROUTES
                          if route_method == method and (match := pattern.match(parts.path))), None)
            if found is None:
                raise Refused(404, "NoSuchRoute", f"{method} {parts.path} is not a run context route")
            handler, match = found
            grant = self.service.authorize(self.headers.get("Authorization"))
            result = handler(Call(grant, match.groups(), query, self))
        except Refused as exc:
            self._error(exc.status, exc.code, exc.message)
            return
        except AmliteError as exc:
            self._error(*_status_for(exc), str(exc))
            return
        except (ValueError, TypeError) as exc:  # a malformed value in the request (a version, a filter)
            self._error(400, "InvalidValue", f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # a storage or host problem: the step sees the reason, the host logs it
            log.exception("run context %s %s failed", method, parts.path)
            self._error(500, "HostError", f"{type(exc).__name__}: {exc}")
            return
        if isinstance(result, dict):
            self._send(200, json.dumps(result, allow_nan=True).encode(), "application/json")
        else:  # file chunks
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in result:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self.close_connection = True  # the body may be unread: never reuse this connection
        body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
        self._send(status, body, "application/json")


class RunContextService:
    """One per process: the loopback server and the grants of the steps this process runs."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()
        handler = type("RunContextHandler", (_Handler,), {"service": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="amlite-run-context", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def grant(self, services: Services, run_id: str, step: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[_hash(token)] = Grant(services, run_id, step)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._grants.pop(_hash(token), None)

    def authorize(self, header: str | None) -> Grant:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "NoToken", f"send the step's {TOKEN_VARIABLE} as 'Authorization: Bearer <token>'")
        with self._lock:
            grant = self._grants.get(_hash(token.strip()))
        if grant is None:
            raise Refused(401, "UnknownToken", "the token is not valid here (its step attempt has ended, or it "
                                               "was never issued by this host)")
        if time.monotonic() - grant.checked_at > STATUS_RECHECK_SECONDS:
            status = grant.services.runs.get_step(grant.run_id, grant.step).get("status")
            if status in TERMINAL:
                self.revoke(token.strip())
                raise Refused(403, "StepEnded", f"step {grant.step!r} of run {grant.run_id} has ended ({status}); "
                                                "its token is no longer valid")
            grant.checked_at = time.monotonic()
        return grant

    def grants(self) -> int:
        with self._lock:
            return len(self._grants)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_service: RunContextService | None = None
_service_lock = threading.Lock()


def shared_service() -> RunContextService:
    """This process's service, started on first use."""
    global _service
    with _service_lock:
        if _service is None:
            _service = RunContextService()
        return _service


def run_context_environment(services: Services, run_id: str, step: str) -> dict[str, str]:
    """The two variables a step needs to reach its run (``Run.get_context()``); a new token per call.

    Revoke it with :func:`end_run_context` when the attempt ends.
    """
    service = shared_service()
    return {URL_VARIABLE: service.url, TOKEN_VARIABLE: service.grant(services, run_id, step)}


def end_run_context(env: Mapping[str, str]) -> None:
    """Revoke the token in a step environment built with :func:`run_context_environment` (no-op without one)."""
    token = env.get(TOKEN_VARIABLE)
    if token and _service is not None:
        _service.revoke(token)
