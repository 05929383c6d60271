"""Cost of ``safe_join`` (a name read from data joined below a folder) against its floor and the full resolve.

A ParallelRunStep joins every file it fetches twice, a data transfer every blob it writes. The floor is
``Path.joinpath`` (no check at all); the peer is what the check did before: ``os.path.realpath`` of the
folder and of the joined path, which walks every component from ``/``. Both are measured in the same
run, interleaved, on a folder as deep as a step's scratch folder, half the names existing.

Usage: ``python bench/safe_join.py [--calls 5000]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_core.safe_paths import safe_join  # noqa: E402


def resolving_join(root: Path, name: str) -> Path:
    """The check as it was: resolve the folder and the joined path, compare."""
    joined = root.joinpath(*name.split("/"))
    real_root, real = os.path.realpath(root), os.path.realpath(joined)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValueError(name)
    return joined


def per_call_us(join: Callable[[Path, str], Path], root: Path, names: list[str]) -> float:
    started = time.perf_counter()
    for name in names:
        join(root, name)
    return (time.perf_counter() - started) / len(names) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="amlite-bench-")) / "work" / "prs-step" / "slice-1" / "input" / "files"
    (root / "bench" / "trivial").mkdir(parents=True)
    for i in range(0, 100, 2):
        (root / "bench" / "trivial" / f"f{i:05d}.bin").write_bytes(b"x")
    names = [f"bench/trivial/f{i % 100:05d}.bin" for i in range(args.calls)]
    joins: dict[str, Callable[[Path, str], Path]] = {
        "Path.joinpath (floor)": lambda r, n: r.joinpath(*n.split("/")),
        "safe_join": lambda r, n: safe_join(r, n, "blob"),
        "realpath of both (the check before)": resolving_join,
    }
    results: dict[str, list[float]] = {label: [] for label in joins}
    for _ in range(5):  # interleaved rounds: a neighbour's burst hits every variant
        for label, join in joins.items():
            results[label].append(per_call_us(join, root, names))
    floor = statistics.median(results["Path.joinpath (floor)"])
    print(f"{args.calls} joins per round, 5 interleaved rounds, median per call:")
    for label, values in results.items():
        median = statistics.median(values)
        print(f"  {label:38} {median:7.1f} us   {median / floor:5.1f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
