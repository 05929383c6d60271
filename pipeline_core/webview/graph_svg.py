"""The step graph as inline SVG: laid out by ``layout.py``, coloured by status through CSS classes.

The page and the notebook widget embed the same markup; the page's script
then only swaps classes and texts as statuses change (the layout of a run
never changes). Every step is a focusable button-like group with a text
label, so the graph reads without colour and works from the keyboard.
"""

from __future__ import annotations

from collections import OrderedDict
from html import escape
from threading import Lock
from typing import Any

from pipeline_core.webview.layout import Layout, layout_graph

LABEL_CHARS = 26
#: Data edges are labelled with the data they carry in graphs up to this many steps (larger ones: tooltips only).
EDGE_LABEL_STEPS = 40
_cache: OrderedDict[tuple[Any, ...], Layout] = OrderedDict()
_cache_lock = Lock()
CACHE_SIZE = 64


def graph_layout(view: dict[str, Any]) -> Layout:
    """The layout of a run view's graph, cached by graph id (and step names, for runs without a spec)."""
    names = [s["Name"] for s in view["Steps"]]
    edges = [(e["From"], e["To"]) for e in view["Edges"]]
    key = (view["Run"].get("GraphId"), tuple(names), tuple(edges))
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    layout = layout_graph(names, edges)
    with _cache_lock:
        _cache[key] = layout
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return layout


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def step_meta(step: dict[str, Any]) -> str:
    """The second line of a step's box: status, reuse, duration, attempts, ParallelRunStep progress."""
    parts = [step["Status"]]
    if step.get("IsReused"):
        parts.append("reused")
    if step.get("DurationText"):
        parts.append(step["DurationText"])
    if int(step.get("MaxAttempts") or 1) > 1 and int(step.get("Attempt") or 0) > 1:
        parts.append(f"try {step['Attempt']}/{step['MaxAttempts']}")
    progress = step.get("Progress") or {}
    if progress.get("MiniBatches"):
        parts.append(f"{progress.get('FinishedMiniBatches') or 0}/{progress['MiniBatches']} batches")
    return " \u00b7 ".join(parts)


def step_classes(step: dict[str, Any]) -> str:
    return escape(f"node st-{step['Status']}" + (" reused" if step.get("IsReused") else ""))


def _path(points: list[tuple[float, float]]) -> str:
    """A smooth vertical curve through the points (cubic segments with vertical tangents)."""
    (x0, y0), rest = points[0], points[1:]
    out = [f"M{x0:.1f},{y0:.1f}"]
    px, py = x0, y0
    for x, y in rest:
        mid = (py + y) / 2
        out.append(f"C{px:.1f},{mid:.1f} {x:.1f},{mid:.1f} {x:.1f},{y:.1f}")
        px, py = x, y
    return " ".join(out)


def render_graph(view: dict[str, Any], dom_prefix: str = "g") -> str:
    """``<svg>`` of the run's graph. ``dom_prefix`` keeps ids unique when several graphs share a document."""
    layout = graph_layout(view)
    steps = {s["Name"]: s for s in view["Steps"]}
    kinds = {(e["From"], e["To"]): e for e in view["Edges"]}
    marker = f"{dom_prefix}-arrow"
    out = [f'<svg class="amlite-graph" xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" '
           f'height="{layout.height:.0f}" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
           f'role="group" aria-label="step graph: {len(steps)} steps">',
           f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" class="arrowhead"/></marker></defs>',
           '<g class="edges">']
    labels: list[str] = []
    for (a, b), points in layout.edges.items():
        edge = kinds.get((a, b), {})
        kind = "data" if edge.get("Kind") == "data" else "after"
        title = f"{a} \u2192 {b}" + (f" ({edge['Data']})" if edge.get("Data") else " (run_after)")
        out.append(f'<path class="edge {kind}" d="{_path(points)}" marker-end="url(#{marker})" '
                   f'data-from="{escape(a)}" data-to="{escape(b)}"><title>{escape(title)}</title></path>')
        if edge.get("Data") and len(steps) <= EDGE_LABEL_STEPS:
            (x1, y1), (x2, y2) = points[len(points) // 2 - 1], points[len(points) // 2]
            labels.append(f'<text class="edge-label" x="{(x1 + x2) / 2 + 6:.1f}" y="{(y1 + y2) / 2 + 4:.1f}">'
                          f"{escape(_short(str(edge['Data']), 20))}</text>")
    out.append('</g><g class="edge-labels">' + "".join(labels) + '</g><g class="nodes">')
    for position, name in enumerate(layout.order):
        step, box = steps[name], layout.nodes[name]
        meta = step_meta(step)
        out.append(
            f'<g class="{step_classes(step)}" data-step="{escape(name)}" data-order="{position}" '
            f'transform="translate({box.x:.1f},{box.y:.1f})" tabindex="{0 if position == 0 else -1}" '
            f'role="button" aria-label="{escape(name)}: {escape(meta)}">'
            f'<title>{escape(name)}</title>'
            f'<rect class="box" width="{box.w:.0f}" height="{box.h:.0f}" rx="7"/>'
            f'<rect class="bar" width="6" height="{box.h:.0f}" rx="3"/>'
            f'<text class="name" x="14" y="20">{escape(_short(name))}</text>'
            f'<text class="meta" x="14" y="38">{escape(_short(meta, 34))}</text></g>')
    out.append("</g></svg>")
    return "".join(out)
