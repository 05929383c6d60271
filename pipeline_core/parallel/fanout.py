"""How a ParallelRunStep's mini-batches are cut into sub-orchestrations. Pure: used inside orchestrators.

Why chunks: a Durable history grows by about two events per activity and each
replay parses it whole, so 10,000 mini-batches in one orchestration would mean
a 20,000-event history replayed hundreds of times. Each chunk is its own
sub-orchestration of at most ``CHUNK_BATCHES`` activities; the step
orchestration only sees one task per chunk. Two chunks run at once, each with
half the step's concurrency, so one chunk's tail never leaves workers idle.
"""

from __future__ import annotations

import math

CHUNK_BATCHES = 200
CHUNKS_IN_FLIGHT = 2


def chunk_ranges(batches: int, size: int = CHUNK_BATCHES) -> list[tuple[int, int]]:
    return [(start, min(start + size, batches)) for start in range(0, batches, size)]


def chunk_plan(batches: int, concurrency: int) -> tuple[list[tuple[int, int]], int, int]:
    """(ranges, chunks at once, concurrency per chunk) for a step with ``concurrency`` workers in total."""
    ranges = chunk_ranges(batches)
    at_once = max(1, min(CHUNKS_IN_FLIGHT, len(ranges), concurrency))
    return ranges, at_once, max(1, math.ceil(concurrency / at_once))
