"""How ParallelRunStep runs on this host: one settings object, read from app settings in one place.

Modelled on :mod:`pipeline_core.auth.settings`: a frozen dataclass built from a
mapping (``os.environ`` by default) by :meth:`ParallelSettings.from_env`, and
handed to the code that needs it. Read when a step prepares or a pool starts,
not cached for the process, so a changed setting applies to the next step (the
tests change them in-process). Every variable is listed in ``docs/settings.md``.

These are tuning knobs for operators and benchmarks; the defaults suit Flex
Consumption. A value that is not a number falls back to the default (a knob
must never stop a step), and integers are clamped to their safe range.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline_core.parallel.fanout import CHUNK_TASKS, LOOKAHEAD, SLICE_MAX

#: Names amlite sets in a ParallelRunStep worker's environment (read by the worker, never by operators).
WORKER_FD = "AMLITE_PRS_FD"
WORKER_SLOT = "AMLITE_PRS_SLOT"
WORKER_LOGGING_LEVEL = "AMLITE_PRS_LOGGING_LEVEL"
WORKER_OUTPUT_DIR = "AMLITE_PRS_OUTPUT_DIR"
WORKER_LOG_DIR = "AMLITE_PRS_LOG_DIR"


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return max(low, min(high, value))


@dataclass(frozen=True)
class ParallelSettings:
    """ParallelRunStep tuning (``AMLITE_PRS_*``); see docs/settings.md for each."""

    slice_max: int = SLICE_MAX  # AMLITE_PRS_SLICE_MAX: mini-batches per slice (at most one Table batch)
    chunk_tasks: int = CHUNK_TASKS  # AMLITE_PRS_CHUNK_TASKS: slice activities per chunk sub-orchestration
    lookahead: int = LOOKAHEAD  # AMLITE_PRS_LOOKAHEAD: slices queued per worker
    slice_seconds: float = 300.0  # AMLITE_PRS_SLICE_SECONDS: a slice starts no mini-batch after this
    flush_seconds: float = 5.0  # AMLITE_PRS_FLUSH_SECONDS: a slice records its results this often
    report_seconds: float = 2.0  # AMLITE_PRS_REPORT_SECONDS: progress and log lines are written this often
    init_timeout_seconds: float = 600.0  # AMLITE_PRS_INIT_TIMEOUT: the longest a worker's init() may take
    pool_idle_seconds: float = 300.0  # AMLITE_PRS_POOL_IDLE_SECONDS: an idle worker pool is closed after this
    prewarm: bool = True  # AMLITE_PRS_PREWARM=0: workers start with the first slice, not at prepare
    scratch: str = "/dev/shm"  # AMLITE_PRS_SCRATCH: RAM folder for small mini-batches' inputs ("off": none)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ParallelSettings:
        env = os.environ if environ is None else environ
        return cls(slice_max=_whole(env, "AMLITE_PRS_SLICE_MAX", SLICE_MAX, 1, SLICE_MAX),
                   chunk_tasks=_whole(env, "AMLITE_PRS_CHUNK_TASKS", CHUNK_TASKS, 4, 10_000),
                   lookahead=_whole(env, "AMLITE_PRS_LOOKAHEAD", LOOKAHEAD, 0, 4),
                   slice_seconds=_number(env, "AMLITE_PRS_SLICE_SECONDS", 300.0),
                   flush_seconds=_number(env, "AMLITE_PRS_FLUSH_SECONDS", 5.0),
                   report_seconds=_number(env, "AMLITE_PRS_REPORT_SECONDS", 2.0),
                   init_timeout_seconds=_number(env, "AMLITE_PRS_INIT_TIMEOUT", 600.0),
                   pool_idle_seconds=_number(env, "AMLITE_PRS_POOL_IDLE_SECONDS", 300.0),
                   prewarm=env.get("AMLITE_PRS_PREWARM", "1").strip() != "0",
                   scratch=env.get("AMLITE_PRS_SCRATCH", "/dev/shm"))


def parallel_settings() -> ParallelSettings:
    """This host's settings now (cheap: a handful of lookups)."""
    return ParallelSettings.from_env()
