"""The public base URL the API builds its own links from (``Location``, ``Endpoint``, ``RunUrl``, OpenAPI ``servers``).

Why not the request's ``Host`` header: anyone can send any ``Host``, and a link
built from it points a client (and whoever it forwards its token to) wherever
the sender wished. So the base is, in order:

1. ``AMLITE_PUBLIC_BASE_URL`` (e.g. ``https://pipelines.contoso.com``, or a
   gateway URL with a path), when set;
2. ``https://$WEBSITE_HOSTNAME`` on Azure (the app's default host name, which
   the platform sets);
3. what the host says it served the request on. The real Functions host builds
   the request URL from a host name its front end accepted; the dev host builds
   it from ``AMLITE_PUBLIC_BASE_URL``, else ``X-Forwarded-Host``/``-Proto`` sent
   by a peer listed in ``AMLITE_TRUSTED_PROXIES``, else its own listening
   address (:func:`forwarded_base_url` is that middle step).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pipeline_core.errors import PublicUrlError as PublicUrlError

PUBLIC_BASE_URL = "AMLITE_PUBLIC_BASE_URL"
TRUSTED_PROXIES = "AMLITE_TRUSTED_PROXIES"
WEBSITE_HOSTNAME = "WEBSITE_HOSTNAME"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: A host name or IPv4 address with an optional port, or a bracketed IPv6 address with one.
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")



def _checked_base(value: str, setting: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or not _HOST.match(parts.netloc):
        raise PublicUrlError(f"app setting {setting}={value!r} must be an http(s) URL such as "
                             "https://pipelines.contoso.com (a host name, an optional port and path)")
    if parts.query or parts.fragment:
        raise PublicUrlError(f"app setting {setting}={value!r} must not carry a query or a fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def configured_base_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``AMLITE_PUBLIC_BASE_URL``, else ``https://$WEBSITE_HOSTNAME``, else None (the host decides)."""
    env = os.environ if environ is None else environ
    configured = env.get(PUBLIC_BASE_URL, "").strip()
    if configured:
        return _checked_base(configured, PUBLIC_BASE_URL)
    hostname = env.get(WEBSITE_HOSTNAME, "").strip()
    if hostname:
        return _checked_base(f"https://{hostname}", WEBSITE_HOSTNAME)
    return None


def trusted_proxies(environ: Mapping[str, str] | None = None) -> tuple[IpNetwork, ...]:
    """``AMLITE_TRUSTED_PROXIES``: comma-separated addresses or networks (``10.0.0.5, 10.1.0.0/16``)."""
    env = os.environ if environ is None else environ
    networks = []
    for entry in (part.strip() for part in env.get(TRUSTED_PROXIES, "").split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise PublicUrlError(f"app setting {TRUSTED_PROXIES} entry {entry!r} is not an IP address or network "
                                 "(e.g. 10.0.0.5 or 10.1.0.0/16)") from None
    return tuple(networks)


def _is_trusted(peer: str | None, proxies: tuple[IpNetwork, ...]) -> bool:
    if not peer or not proxies:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    return any(address in network for network in proxies)


def _last_value(headers: Mapping[str, str], name: str) -> str:
    """The value the nearest proxy set: a proxy that appends puts its own value last."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.split(",")[-1].strip()
    return ""


def forwarded_base_url(headers: Mapping[str, str], peer: str | None,
                       environ: Mapping[str, str] | None = None) -> str | None:
    """``X-Forwarded-Proto://X-Forwarded-Host`` when ``peer`` is a trusted proxy and both values are well formed."""
    if not _is_trusted(peer, trusted_proxies(environ)):
        return None
    host = _last_value(headers, "X-Forwarded-Host")
    proto = _last_value(headers, "X-Forwarded-Proto").lower() or "https"
    if not host or not _HOST.match(host) or proto not in ("http", "https"):
        return None
    return f"{proto}://{host}"


def request_base_url(request_url: str, environ: Mapping[str, str] | None = None) -> str:
    """The base for links in an answer: the configured one, else the origin of the URL the host served."""
    configured = configured_base_url(environ)
    if configured is not None:
        return configured
    parts = urlsplit(request_url)
    return f"{parts.scheme}://{parts.netloc}"
