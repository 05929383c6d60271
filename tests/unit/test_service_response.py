"""A text answer built from stored data never turns a stored lone surrogate into a 500."""

from __future__ import annotations

from pipeline_core.rest.request import ServiceResponse
from pipeline_core.webview.pages_runs import html_response


def test_text_bodies_with_a_lone_surrogate_still_encode() -> None:
    page = html_response("<td>tag \ud800 value</td>")
    assert page.body_bytes() == b"<td>tag ? value</td>"
    log = ServiceResponse(200, "line \udc80\n", content_type="text/plain; charset=utf-8")
    assert log.body_bytes() == b"line ?\n"


def test_json_bodies_escape_it() -> None:
    assert ServiceResponse(200, {"tag": "\ud800"}).body_bytes() == b'{"tag": "\\ud800"}'
