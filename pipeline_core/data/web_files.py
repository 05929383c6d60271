"""Dataset paths that are http(s) URLs (AML v1: ``Dataset.File.from_files("https://.../titanic.csv")``).

Why here and not a datastore: AML downloads such files when the dataset is
consumed, and the public samples use them for their sample data. A URL path is
kept in the definition as the pseudo datastore ``@web`` (no datastore can be
named so), listed with one HEAD request (its ETag, or Last-Modified and size,
is its identity for reuse) and read with a streaming GET, through the same
``list_files``/``download_files`` every other dataset path goes through.

Link-local addresses (169.254.0.0/16, fe80::/10: the cloud's instance metadata
and managed identity endpoints) are refused: a URL in a dataset must never make
the host fetch its own credentials.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline_core.errors import AmliteError

WEB_DATASTORE = "@web"
_TIMEOUT = 60


def is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def check_url(url: str) -> None:
    """Refuse URLs that could reach the host's metadata or identity endpoints (link-local addresses)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise AmliteError(f"dataset URL {url!r} has no host; pass a full http(s) URL")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise AmliteError(f"dataset URL {url!r}: cannot resolve {parts.hostname!r} ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address.is_link_local:
            raise AmliteError(f"dataset URL {url!r} points at a link-local address ({address}), where the cloud's "
                              "metadata and identity endpoints live; it is refused")


def file_name(url: str) -> str:
    """The local file name of a URL: its last path segment, or ``download`` when it has none usable."""
    from pipeline_core.safe_paths import plain_name_problem

    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return name if name and plain_name_problem(name) is None else "download"


def describe(url: str) -> tuple[str, int]:
    """(identity, size) of the file at ``url``: its ETag, else Last-Modified + size, else its content's hash."""
    import requests

    check_url(url)
    try:
        head = requests.head(url, allow_redirects=True, timeout=_TIMEOUT)
        if head.status_code >= 400 and head.status_code not in (403, 405):
            raise AmliteError(f"dataset URL {url!r} answered HTTP {head.status_code}; check the address")
        etag = head.headers.get("ETag") if head.ok else None
        size = int(head.headers.get("Content-Length") or 0) if head.ok else 0
        if etag:
            return etag.strip('"'), size
        modified = head.headers.get("Last-Modified") if head.ok else None
        if modified:
            return f"{modified}|{size}", size
        digest = hashlib.sha256()
        total = 0
        with requests.get(url, stream=True, timeout=_TIMEOUT) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_content(1 << 20):
                digest.update(chunk)
                total += len(chunk)
        return digest.hexdigest(), total
    except requests.RequestException as exc:
        raise AmliteError(f"dataset URL {url!r} could not be read: {exc}") from None


class _Download:
    def __init__(self, url: str):
        self.url = url

    def readinto(self, handle: Any) -> int:
        import requests

        check_url(self.url)
        total = 0
        try:
            with requests.get(self.url, stream=True, timeout=_TIMEOUT) as answer:
                answer.raise_for_status()
                for chunk in answer.iter_content(1 << 20):
                    handle.write(chunk)
                    total += len(chunk)
        except requests.RequestException as exc:
            raise AmliteError(f"dataset URL {self.url!r} could not be downloaded: {exc}") from None
        return total

    def readall(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.readinto(buffer)
        return buffer.getvalue()


class WebFiles:
    """The part of a ContainerClient that downloading a dataset file uses, over http(s)."""

    def download_blob(self, url: str, *args: Any, **kwargs: Any) -> _Download:
        return _Download(url)


def with_web(container_for: Callable[[str], Any]) -> Callable[[str], Any]:
    """``container_for`` that also answers the ``@web`` pseudo datastore."""
    web = WebFiles()
    return lambda name: web if name == WEB_DATASTORE else container_for(name)
