"""``RunDetails(run).show()``: AML's ``azureml.widgets`` run view, for notebooks.

In Jupyter (or any IPython front end that shows HTML) it displays the run's
step graph, the same drawing as the web run view, with a step table, and
updates that display in place from a background thread until the run ends.
Elsewhere (a script, a terminal) it prints a text summary, the same facts
``amlite show`` prints. IPython is used when it is there; it is not a
dependency of amlite.

The display is plain HTML and SVG with its CSS inlined: no script, so it
shows in untrusted notebooks, in nbviewer and on GitHub, and stays in the
saved notebook as the run looked when it was last updated.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from html import escape
from typing import Any

from pipeline_core.errors import NotFoundError
from pipeline_core.rest.views.run_view import run_view
from pipeline_core.spec import PipelineSpec
from pipeline_core.storage.run_store import TERMINAL
from pipeline_core.webview.graph_svg import render_graph
from pipeline_core.webview.html import static_text

__all__ = ["RunDetails"]

POLL_SECONDS = 2.0
_ids = itertools.count(1)
WIDGET_CSS = """
.amlite-widget { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; }
.amlite-widget .head { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin: 4px 0 8px; }
.amlite-widget .status { padding: 1px 8px; border-radius: 999px; border: 1px solid #6b7280; font-weight: 600; }
.amlite-widget .graph { display: inline-block; max-width: 100%; overflow: auto; max-height: 520px; border: 1px solid #d1d5db; border-radius: 6px;
                        background: #fff; }
.amlite-widget table { border-collapse: collapse; margin-top: 8px; }
.amlite-widget th, .amlite-widget td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #e5e7eb;
                                        vertical-align: top; }
.amlite-widget .err { color: #991b1b; white-space: pre-wrap; }
"""


class RunDetails:
    """The run view of a ``PipelineRun`` (or anything with ``_source`` and ``_services`` like it)."""

    def __init__(self, run_instance: Any):
        self.run = run_instance
        self._thread: threading.Thread | None = None

    # -- data --------------------------------------------------------------------------------------
    def _spec(self, graph_id: str | None) -> PipelineSpec | None:
        if not graph_id:
            return None
        try:
            return self.run._services.load_spec(graph_id)  # type: ignore[no-any-return]
        except NotFoundError:
            return None

    def get_view(self) -> dict[str, Any]:
        """The run as the web view's JSON shows it (``GET /api/runs/{id}/view``), read through the run's source."""
        state = self.run._source.get_state()
        return run_view(state, self._spec(state.run.get("graph_id")))

    # -- renderings --------------------------------------------------------------------------------
    def to_html(self, view: dict[str, Any] | None = None) -> str:
        """The display: header, step graph, step table; CSS inlined, no script."""
        view = view or self.get_view()
        run = view["Run"]
        prefix = f"amlite-w{next(_ids)}"
        rows = "".join(
            f"<tr><td>{escape(s['Name'])}</td><td>{escape(s['Status'])}</td><td>{escape(s['Reuse'])}</td>"
            f"<td>{escape(s['DurationText'])}</td><td class=\"err\">{escape((s['Error'] or '').splitlines()[0] if s['Error'] else '')}"
            "</td></tr>" for s in view["Steps"])
        error = f'<div class="err">{escape(run["Error"])}</div>' if run.get("Error") else ""
        return (f'<div class="amlite-widget" id="{prefix}"><style>{static_text("graph.css")}{WIDGET_CSS}</style>'
                f'<div class="head"><strong>Run {escape(run["Id"])}</strong><span class="status">'
                f'{escape(run["Status"])}</span><span>experiment {escape(str(run["ExperimentName"]))}</span>'
                f'<span>{escape(run["DurationText"])}</span></div>{error}'
                f'<div class="graph">{render_graph(view, prefix)}</div>'
                "<table><thead><tr><th>step</th><th>status</th><th>reuse</th><th>duration</th><th>error</th></tr>"
                f"</thead><tbody>{rows}</tbody></table></div>")

    def to_text(self, view: dict[str, Any] | None = None) -> str:
        """What a terminal gets: the run's line, then one line per step (status, why it ran, duration)."""
        view = view or self.get_view()
        run = view["Run"]
        lines = [f"run {run['Id']}  experiment {run['ExperimentName']}  status {run['Status']}"
                 + (f"  {run['DurationText']}" if run["DurationText"] else "")]
        if run.get("Error"):
            lines.append(f"  error: {run['Error'].strip().splitlines()[-1]}")
        width = max((len(s["Name"]) for s in view["Steps"]), default=4)
        for s in view["Steps"]:
            extra = "  ".join(part for part in (s["Reuse"], s["DurationText"], s["ProgressText"]) if part)
            lines.append(f"  {s['Name']:<{width}}  {s['Status']:<15} {extra}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_html()

    # -- show ----------------------------------------------------------------------------------------
    def show(self, poll_seconds: float = POLL_SECONDS, timeout_seconds: float = 24 * 3600) -> None:
        """Display the run; in a notebook keep the display current until the run ends (in the background)."""
        display = _html_display()
        view = self.get_view()
        if display is None:
            print(self.to_text(view))
            return
        update = display(self.to_html(view))
        if view["Run"]["Terminal"]:
            return
        self._thread = threading.Thread(target=self.follow, args=(update, poll_seconds, timeout_seconds),
                                        name=f"amlite-run-details-{self.run.id}", daemon=True)
        self._thread.start()

    def follow(self, update: Callable[[str], None], poll_seconds: float = POLL_SECONDS,
               timeout_seconds: float = 24 * 3600) -> str:
        """Call ``update`` with fresh HTML whenever the run changed, until it ends; returns its last status."""
        deadline = time.monotonic() + timeout_seconds
        last = None
        while True:
            view = self.get_view()
            fingerprint = [(s["Status"], s["DurationText"], s["ProgressText"]) for s in view["Steps"]]
            fingerprint.append((view["Run"]["Status"], "", ""))
            if fingerprint != last:
                update(self.to_html(view))
                last = fingerprint
            if view["Run"]["Status"] in TERMINAL or time.monotonic() > deadline:
                return str(view["Run"]["Status"])
            time.sleep(poll_seconds)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a notebook display's background updates to finish (the run ended)."""
        if self._thread is not None:
            self._thread.join(timeout)


def _html_display() -> Callable[[str], Callable[[str], None]] | None:
    """``display(html) -> update(html)`` when an IPython front end that renders HTML is running, else None."""
    try:
        from IPython import get_ipython  # type: ignore[attr-defined]
        from IPython.display import HTML, display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or type(shell).__name__ == "TerminalInteractiveShell":
        return None

    def show(html: str) -> Callable[[str], None]:
        handle = display(HTML(html), display_id=True)

        def update(new: str) -> None:
            if handle is not None:
                handle.update(HTML(new))

        return update

    return show
