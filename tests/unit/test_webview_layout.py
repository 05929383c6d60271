"""The run graph's layout and the output path guard: pure functions, checked on the shapes pipelines have."""

from __future__ import annotations

import random
import time

import pytest

from pipeline_core.rest.errors import ServiceError
from pipeline_core.rest.views.output_files import safe_relative_path
from pipeline_core.webview.layout import WRAP, layout_graph


def _overlaps(boxes: list) -> bool:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h:
                return True
    return False


def test_edges_point_down_and_steps_never_overlap() -> None:
    rng = random.Random(3)
    names = [f"s{i}" for i in range(120)]
    edges = [(names[rng.randrange(max(0, i - 10), i)], names[i]) for i in range(1, 120) for _ in range(2)]
    layout = layout_graph(names, edges)
    assert set(layout.nodes) == set(names) and sorted(layout.order) == sorted(names)
    for a, b in set(edges):
        assert layout.nodes[a].y < layout.nodes[b].y, (a, b)
        points = layout.edges[(a, b)]
        assert points[0] == (layout.nodes[a].cx, layout.nodes[a].y + layout.nodes[a].h)
        assert points[-1] == (layout.nodes[b].cx, layout.nodes[b].y)
    assert not _overlaps(list(layout.nodes.values()))
    assert all(0 <= box.x and box.x + box.w <= layout.width for box in layout.nodes.values())


def test_a_long_edge_bends_once_per_layer_it_crosses() -> None:
    layout = layout_graph(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert len(layout.edges[("a", "d")]) == 4  # out of a, two layers crossed, into d
    assert len(layout.edges[("a", "b")]) == 2


def test_a_wide_fan_out_wraps_and_the_drawing_is_deterministic() -> None:
    names = ["src", *[f"m{i}" for i in range(60)], "sink"]
    edges = [("src", f"m{i}") for i in range(60)] + [(f"m{i}", "sink") for i in range(60)]
    layout = layout_graph(names, edges)
    rows = {box.y for name, box in layout.nodes.items() if name.startswith("m")}
    assert len(rows) == -(-60 // WRAP)
    assert layout == layout_graph(names, edges)


def test_two_hundred_steps_lay_out_quickly() -> None:
    rng = random.Random(7)
    names = [f"step_{i:03d}" for i in range(200)]
    edges = [(names[rng.randrange(max(0, i - 12), i)], names[i]) for i in range(1, 200) for _ in range(2)]
    started = time.perf_counter()
    layout_graph(names, edges)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("path", ["../secret", "a/../../b", "/etc/passwd", "a\\b", "", "a//b", "./a", "a\x00b"])
def test_output_paths_cannot_leave_their_output(path: str) -> None:
    with pytest.raises(ServiceError) as refused:
        safe_relative_path(path)
    assert refused.value.status == 400 and refused.value.details[0]["target"] == "path"


def test_ordinary_output_paths_pass() -> None:
    assert safe_relative_path("model/weights.bin") == "model/weights.bin"
    assert safe_relative_path("part-00001.csv") == "part-00001.csv"
