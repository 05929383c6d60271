"""HTML building blocks of the run view pages: the page shell, links that keep a function key, small widgets.

Plain string building with ``html.escape`` on every value that comes from
data (run ids, step names, parameters, messages), so nothing stored can
inject markup. No template engine: the pages are small and this keeps the
Functions app's dependencies as they are.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from pipeline_core.status import status_of

UI_PREFIX = "/api/ui"
STATIC_PACKAGE = "pipeline_core.webview"
#: A fact whose text is longer than this takes a whole row of the summary grid.
WIDE_CHARS = 44
STATIC_FILES = {"app.css": "text/css", "graph.css": "text/css", "app.js": "text/javascript",
                "run.js": "text/javascript"}


@dataclass(frozen=True)
class Viewer:
    """Who is looking, as far as a page cares: a name to show, whether Submit actions are offered, and the
    function key to carry on links in ``key`` mode (a browser cannot send ``x-functions-key`` by itself)."""

    name: str
    can_submit: bool
    auth_mode: str = "none"
    key: str | None = None


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def seg(value: str) -> str:
    return quote(value, safe="")


def href(viewer: Viewer, path: str, **query: Any) -> str:
    """A link to a page or route, with the viewer's ``code`` kept and empty query values left out."""
    values = {k: v for k, v in query.items() if v not in (None, "")}
    if viewer.key:
        values["code"] = viewer.key
    return esc(path + ("?" + urlencode(values) if values else ""))


@cache
def static_text(name: str) -> str:
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files(STATIC_PACKAGE).joinpath("static", name).read_text(encoding="utf-8")


@cache
def static_version(name: str) -> str:
    return hashlib.sha256(static_text(name).encode()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The asset's URL with its content hash, so it can be cached for long and still change with a release."""
    return f"{UI_PREFIX}/static/{name}?v={static_version(name)}"


def json_script(element_id: str, data: Any) -> str:
    """Data for the page's script; ``</`` escaped so no string in it can close the script element."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def fmt_time(value: Any, utc_suffix: bool = True) -> str:
    """``2026-05-01 12:00:03 UTC`` in a ``<time>`` element (tables say UTC in the header); '' when absent."""
    if not value:
        return ""
    text = str(value)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return esc(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    shown = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S" + (" UTC" if utc_suffix else ""))
    return f'<time datetime="{esc(text)}">{shown}</time>'


def badge(status: Any, element_id: str | None = None) -> str:
    text = str(status_of(status))
    ident = f' id="{esc(element_id)}"' if element_id else ""
    return f'<span class="badge st-{esc(text)}"{ident}>{esc(text)}</span>'


def short_id(value: str, length: int = 8) -> str:
    return value if len(value) <= length + 1 else value[:length] + "\u2026"


def params_text(values: dict[str, Any], limit: int = 90) -> str:
    """``alpha=0.1, data=ws/path`` for a table cell, cut at ``limit`` characters."""
    parts = []
    for name, value in values.items():
        if isinstance(value, dict):
            value = f"{value.get('DataStoreName') or value.get('datastore')}/{value.get('RelativePath') or value.get('path') or ''}"
        parts.append(f"{name}={value}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def table(headers: list[str], rows: list[list[str]], caption: str = "", empty: str = "Nothing yet.",
          css: str = "") -> str:
    """A responsive table: cells are already HTML; on a phone each row becomes a card labelled by its headers."""
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td data-label="{esc(h)}">{cell}</td>' for h, cell in zip(headers, row))
                   + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<div class="table-wrap"><table class="data {esc(css)}">{cap}<thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


def definition_list(items: list[tuple[str, str]], css: str = "summary") -> str:
    """``<dl>`` of (label, HTML value) pairs, each pair in a ``<div>`` (a grid cell); empty values are left out."""
    cells = []
    for label, value in items:
        if value:
            wide = ' class="wide"' if len(re.sub(r"<[^>]*>", "", value)) > WIDE_CHARS else ""
            cells.append(f"<div{wide}><dt>{esc(label)}</dt><dd>{value}</dd></div>")
    return f'<dl class="facts {esc(css)}">' + "".join(cells) + "</dl>"


NAV = (("runs", "Runs"), ("pipelines", "Pipelines"), ("schedules", "Schedules"))


def page(viewer: Viewer, title: str, body: str, active: str = "", config: dict[str, Any] | None = None,
         scripts: tuple[str, ...] = ("app.js",)) -> str:
    """The whole document: header with navigation and the viewer, ``body`` in ``<main>``, then the scripts."""
    links = "".join(
        f'<a href="{href(viewer, f"{UI_PREFIX}/{key}")}"' + (' aria-current="page"' if key == active else "")
        + f">{label}</a>" for key, label in NAV)
    role = "can submit" if viewer.can_submit else "read only"
    data = json_script("amlite-config", {**(config or {}), "key": viewer.key, "canSubmit": viewer.can_submit})
    tags = "".join(f'<script src="{static_url(name)}" defer></script>' for name in scripts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} \u00b7 amlite</title>"
        f'<link rel="stylesheet" href="{static_url("app.css")}"><link rel="stylesheet" href="{static_url("graph.css")}">'
        '</head><body><a class="skip" href="#main">Skip to content</a>'
        f'<header class="top"><a class="brand" href="{href(viewer, f"{UI_PREFIX}/runs")}">amlite</a>'
        f'<nav aria-label="Main">{links}</nav>'
        f'<span class="who" title="signed in as">{esc(viewer.name)} \u00b7 {role}</span></header>'
        f'<main id="main" tabindex="-1">{body}</main>{data}{tags}</body></html>'
    )


def error_page(viewer: Viewer | None, status: int, code: str, message: str) -> str:
    who = viewer or Viewer(name="not signed in", can_submit=False)
    body = (f'<h1>{status} \u00b7 {esc(code)}</h1><p class="error-box" role="alert">{esc(message)}</p>'
            f'<p><a href="{href(who, f"{UI_PREFIX}/runs")}">Back to runs</a></p>')
    return page(who, f"{status} {code}", body)


def copy_block(label: str, text: str, element_id: str) -> str:
    """A read-only code block with a Copy button (the script copies the element's text)."""
    return (f'<div class="copy-block"><div class="copy-head"><span>{esc(label)}</span>'
            f'<button type="button" class="copy" data-copy="{esc(element_id)}">Copy</button></div>'
            f'<pre id="{esc(element_id)}" tabindex="0"><code>{esc(text)}</code></pre></div>')
