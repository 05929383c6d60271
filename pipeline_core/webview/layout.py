"""A layered (Sugiyama style) drawing of a pipeline's step graph: pure, deterministic, computed in Python.

Why here and not a JavaScript library (dagre, elkjs): the same drawing is shown
by the web run view *and* by ``RunDetails(run).show()`` in a notebook, where
outputs may be untrusted (scripts dropped), rendered by nbviewer or GitHub, or
saved with the notebook. Laying the graph out on the server gives one drawing
for both, plain SVG that needs no script to appear, and a first paint that does
not wait for a layout library to load and run. A run's graph never changes
while it runs, so the drawing is computed once per graph and only colours
change afterwards.

Steps: layers by longest path from the sources; long edges broken into
dummy points (one per layer crossed) so they route around steps; layer order
by alternating barycenter sweeps, keeping the order with fewest crossings;
x positions by isotonic regression towards the neighbours' mean (the closest
placement to "under its parents" that keeps steps apart). Top to bottom, as
AML studio draws pipelines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

NODE_WIDTH = 196.0
NODE_HEIGHT = 50.0
DUMMY_WIDTH = 12.0
H_GAP = 28.0
LAYER_GAP = 64.0
MARGIN = 16.0
SWEEPS = 8
#: Above this many dummy points (a graph with very many long edges), long edges are drawn straight instead.
MAX_DUMMIES = 4000
#: At most this many steps side by side; a wider layer wraps onto more rows.
WRAP = 8


@dataclass(frozen=True)
class Box:
    x: float  # left
    y: float  # top
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


@dataclass
class Layout:
    width: float
    height: float
    nodes: dict[str, Box]
    #: One polyline per edge (``(from, to)``), from the source's bottom to the target's top.
    edges: dict[tuple[str, str], list[tuple[float, float]]]
    #: Steps in reading order (layer by layer, left to right): the keyboard's order through the graph.
    order: list[str] = field(default_factory=list)


def _layers(names: Sequence[str], preds: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from a source; a cycle (never in a validated spec) is broken by taking the rest in order."""
    layer: dict[str, int] = {}
    remaining = list(names)
    while remaining:
        progressed = False
        for name in list(remaining):
            if all(p in layer for p in preds[name]):
                layer[name] = max((layer[p] + 1 for p in preds[name]), default=0)
                remaining.remove(name)
                progressed = True
        if not progressed:
            name = remaining.pop(0)
            layer[name] = max((layer[p] + 1 for p in preds[name] if p in layer), default=0)
    return layer


def _crossings(upper: list[str], lower: list[str], links: list[tuple[str, str]]) -> int:
    """Edge crossings between two adjacent layers (pairs of links whose ends are in opposite order)."""
    up = {n: i for i, n in enumerate(upper)}
    low = {n: i for i, n in enumerate(lower)}
    ends = sorted((up[a], low[b]) for a, b in links if a in up and b in low)
    # sorted by upper end (then lower end): a later link crosses an earlier one when its lower end is further left
    return sum(1 for i, (_, b1) in enumerate(ends) for _, b2 in ends[i + 1:] if b2 < b1)


def _isotonic(desired: list[float], offsets: list[float]) -> list[float]:
    """The positions closest to ``desired`` (least squares) with ``x[i+1] - x[i] >= offsets[i+1] - offsets[i]``.

    Substituting ``y = x - offset`` makes the constraint "y never decreases": pool adjacent violators.
    """
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value in (d - o for d, o in zip(desired, offsets)):
        blocks.append([value, 1.0, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, w2, c2 = blocks.pop()
            mean1, w1, c1 = blocks.pop()
            blocks.append([(mean1 * w1 + mean2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out.extend([mean] * int(count))
    return [y + o for y, o in zip(out, offsets)]


def layout_graph(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> Layout:
    """Boxes for ``names`` and routed polylines for ``edges`` (duplicates and unknown ends are ignored)."""
    known = set(names)
    unique = list(dict.fromkeys((a, b) for a, b in edges if a in known and b in known and a != b))
    preds: dict[str, list[str]] = {n: [] for n in names}
    for a, b in unique:
        preds[b].append(a)
    layer = _layers(names, preds)
    depth = max(layer.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for name in names:  # spec order first: a stable, familiar start
        layers[layer[name]].append(name)
    # Long edges become chains through dummy points, one per layer crossed.
    chains: dict[tuple[str, str], list[str]] = {}
    links: list[tuple[str, str]] = []
    spans = sum(max(0, layer[b] - layer[a] - 1) for a, b in unique)
    for a, b in unique:
        if layer[b] <= layer[a] or spans > MAX_DUMMIES:  # a broken cycle, or too many long edges: no dummies
            chains[(a, b)] = [a, b]
            links.append((a, b))
            continue
        chain = [a]
        for k in range(layer[a] + 1, layer[b]):
            dummy = f"\0{a}\0{b}\0{k}"
            layers[k].append(dummy)
            layer[dummy] = k
            chain.append(dummy)
        chain.append(b)
        chains[(a, b)] = chain
        links.extend(zip(chain, chain[1:]))
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for a, b in links:
        down.setdefault(a, []).append(b)
        up.setdefault(b, []).append(a)
    layers = _order(layers, up, down, links)
    boxes = _place(layers, up, down)
    nodes = {n: boxes[n] for n in names}
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for (a, b), chain in chains.items():
        points = [(nodes[a].cx, nodes[a].y + nodes[a].h)]
        points += [(boxes[d].cx, boxes[d].y + boxes[d].h / 2) for d in chain[1:-1]]
        points.append((nodes[b].cx, nodes[b].y))
        routes[(a, b)] = points
    width = max((b.x + b.w for b in boxes.values()), default=0.0) + MARGIN
    height = max((b.y + b.h for b in boxes.values()), default=0.0) + MARGIN
    order = sorted(names, key=lambda n: (nodes[n].y, nodes[n].x))
    return Layout(width, height, nodes, routes, order)


def _order(layers: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]],
           links: list[tuple[str, str]]) -> list[list[str]]:
    """Barycenter sweeps, down then up, keeping the ordering with the fewest crossings seen."""

    def total(current: list[list[str]]) -> int:
        return sum(_crossings(current[i], current[i + 1], links) for i in range(len(current) - 1))

    best = [list(row) for row in layers]
    best_count = total(best)
    current = [list(row) for row in layers]
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for i in indices:
            ref = current[i - 1] if downward else current[i + 1]
            where = {n: k for k, n in enumerate(ref)}
            neighbours = up if downward else down
            row = current[i]

            def key(item: tuple[int, str], where: dict[str, int] = where,
                    neighbours: dict[str, list[str]] = neighbours) -> float:
                seen = [where[m] for m in neighbours.get(item[1], []) if m in where]
                return sum(seen) / len(seen) if seen else float(item[0])

            current[i] = [n for _, n in sorted(enumerate(row), key=key)]
        count = total(current)
        if count < best_count:
            best, best_count = [list(row) for row in current], count
        if best_count == 0:
            break
    return best


def _width(name: str) -> float:
    return DUMMY_WIDTH if name.startswith("\0") else NODE_WIDTH


def _rows(layers: list[list[str]]) -> list[list[str]]:
    """Layers wider than ``WRAP`` steps are drawn as several rows, so a wide fan-out stays readable."""
    rows: list[list[str]] = []
    for row in layers:
        steps = sum(1 for n in row if not n.startswith("\0"))
        if steps <= WRAP:
            rows.append(row)
            continue
        per = -(-len(row) // -(-steps // WRAP))  # same number of rows as the steps need, items spread evenly
        rows.extend(row[k:k + per] for k in range(0, len(row), per))
    return rows


def _place(layers: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]]) -> dict[str, Box]:
    rows = _rows(layers)
    centers: dict[str, float] = {}
    offsets: list[list[float]] = []
    for row in rows:
        run = 0.0
        offs = []
        for k, name in enumerate(row):
            if k:
                run += _width(row[k - 1]) / 2 + H_GAP + _width(name) / 2
            offs.append(run)
        offsets.append(offs)
        widest = offs[-1] if offs else 0.0
        for name, off in zip(row, offs):
            centers[name] = off - widest / 2
    for sweep in range(4):  # pull each step towards the mean of its neighbours, alternately from above and below
        downward = sweep % 2 == 0
        indices = range(1, len(rows)) if downward else range(len(rows) - 2, -1, -1)
        for i in indices:
            neighbours = up if downward else down
            desired = []
            for name in rows[i]:
                seen = [centers[m] for m in neighbours.get(name, [])]
                desired.append(sum(seen) / len(seen) if seen else centers[name])
            for name, x in zip(rows[i], _isotonic(desired, offsets[i])):
                centers[name] = x
    left = min((centers[n] - _width(n) / 2 for row in rows for n in row), default=0.0)
    boxes = {}
    for i, row in enumerate(rows):
        y = MARGIN + i * (NODE_HEIGHT + LAYER_GAP)
        for name in row:
            w = _width(name)
            boxes[name] = Box(round(centers[name] - w / 2 - left + MARGIN, 1), y, w, NODE_HEIGHT)
    return boxes
