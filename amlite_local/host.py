"""The dev host composed for amlite's Functions app: the generic ``amlite_devhost`` plus what only amlite knows.

``amlite_devhost`` runs any Functions app and knows nothing of pipelines. This
module hands it amlite's parts:

- links: ``AMLITE_PUBLIC_BASE_URL`` (or ``WEBSITE_HOSTNAME``), else ``X-Forwarded-*`` from a proxy listed in
  ``AMLITE_TRUSTED_PROXIES`` (``pipeline_core.rest.public_url``);
- storage clients with amlite's retry policy and request budgets (``pipeline_core.storage.account``);
- after each resume sweep, the run rows dead hosts left are settled (``amlite_local.resume``);
- the exposure check: ``AMLITE_AUTH=none`` is refused on a non-loopback address.

Tests, benches, examples and ``amlite dev`` use :class:`DevHost` from here; ``python -m amlite_local [app_dir]``
serves an app with it (``amlite dev`` also starts Azurite first).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from amlite_devhost.durable.engine import DurableEngine
from amlite_devhost.resume import SweepHook
from amlite_devhost.server import DevHost as GenericDevHost
from amlite_devhost.server import main as devhost_main
from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.rest.public_url import configured_base_url, forwarded_base_url
from pipeline_core.storage.account import StorageAccount

from .resume import PIPELINE_ORCHESTRATOR, settle_runs


def _forwarded(headers: Mapping[str, str], remote: str | None) -> str | None:
    return forwarded_base_url(headers, remote)


def _settle_runs(engine: DurableEngine, me: str) -> SweepHook | None:
    """For an app that runs pipelines: settle the run rows of dead owners after each adoption."""
    if PIPELINE_ORCHESTRATOR not in engine.orchestrator_names:
        return None
    return settle_runs(engine, services_for(storage_from_environment()), me)


class DevHost(GenericDevHost):
    """``amlite_devhost.server.DevHost`` with amlite's URL settings, storage clients and run sweep."""

    def __init__(self, app_dir: str | Path = ".", host: str = "127.0.0.1", port: int = 7071, **kwargs: Any) -> None:
        kwargs.setdefault("configured_url", configured_base_url)
        kwargs.setdefault("forwarded_url", _forwarded)
        kwargs.setdefault("account", StorageAccount)
        kwargs.setdefault("sweep_hook", _settle_runs)
        super().__init__(app_dir, host, port, **kwargs)


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, environ: Any = None) -> tuple[int | None, list[str]]:
    """``(exit code or None, messages for stderr)`` for serving on ``host`` with the configured auth.

    Auth ``none`` lets every caller read, submit and publish, so it is refused on
    a non-loopback address (exit 2) and loudly warned about on loopback.
    """
    from pipeline_core.auth import AuthConfigError, AuthSettings
    from pipeline_core.rest.public_url import PublicUrlError, trusted_proxies

    try:
        settings = AuthSettings.from_env(environ)
        configured_base_url(environ)
        trusted_proxies(environ)
    except (AuthConfigError, PublicUrlError) as exc:
        return 2, [f"amlite dev: {exc}"]
    messages = [f"amlite dev: warning: {problem}" for problem in settings.problems()]
    if settings.mode != "none":
        return None, messages
    if not _is_loopback(host):
        return 2, [f"amlite dev: refusing to serve on {host} with AMLITE_AUTH=none: anyone who can reach that "
                   "address could submit and publish pipelines, which run code on this machine. Either serve on "
                   "loopback (--host 127.0.0.1), or turn auth on: AMLITE_AUTH=key with AMLITE_FUNCTION_KEYS=<a "
                   "long random key> (or AMLITE_AUTH=entra), in the environment or local.settings.json"]
    banner = "!" * 78
    return None, [banner,
                  "WARNING: AMLITE_AUTH=none - the API accepts every request without authentication; every",
                  "caller may read, submit and publish. Fine on loopback for development only; set AMLITE_AUTH",
                  "(key or entra) before exposing this host.",
                  banner, *messages]


def main(argv: list[str] | None = None, before_exit: Callable[[], None] | None = None) -> int:
    """``python -m amlite_local [app_dir] [--port ...]``: the generic host's command line with amlite's parts."""
    return devhost_main(argv, before_exit, check_exposure=check_exposure, make_host=DevHost,
                        prog="amlite dev")


if __name__ == "__main__":
    sys.exit(main())
