"""How long a short CLI command takes, start to exit, against the interpreter's own start.

A user types ``amlite runs`` or ``amlite show RUN`` many times a day, and most of what such a
command costs is the start: the interpreter, amlite's modules and the Azure SDKs. Measured in one
run, interleaved, against the same Azurite (each command a fresh process, as a user runs it):

- the floor: the venv's ``python -c pass``;
- ``amlite runs`` and ``amlite show RUN`` as shipped;
- the same two with what they loaded before imported first (``aiohttp``, the Blob SDK, the engine's
  ``services`` with the pipeline builder): the Blob SDK imported ``aiohttp`` only for an ``isinstance``
  test (``pipeline_core/_aiohttp_deferral.py`` now keeps it out), and the two commands read only run
  rows, which need the Tables SDK alone.

Reported: medians (min-max) in ms, and each command's excess over the floor.

Then the listing behind ``amlite runs`` and the runs page as the index grows: with ``--history`` more
runs' index entries (default 5,000, spread over 200 days, in ten experiments), the newest 20 runs
listed (``RunStore.list_runs``) against reading the whole index, as every listing did before it looked
back in widening windows; in this process, interleaved.
Usage: ``python bench/cli_start.py [--rounds 10] [--history 5000]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AMLITE_QUIET", "1")

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace  # noqa: E402
from pipeline_core.engine.services import services_for  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402
from pipeline_core.storage.run_store import RunStore, index_key  # noqa: E402

#: The CLI as its console script runs it, optionally with modules imported first.
_CLI = "import runpy, sys; sys.argv = ['amlite', *sys.argv[1:]]; runpy.run_module('amlite_cli', run_name='__main__')"


#: What ``amlite runs``/``show`` imported before this round, loaded first to time them as they were.
_BEFORE = "import aiohttp, azure.storage.blob, pipeline_core.engine.services; "


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, timeout=120)
    return time.perf_counter() - started


def _seed_history(store: RunStore, entries: int, days: float = 200.0) -> None:
    """Index entries of older runs (their rows are not needed: a listing reads only the newest runs' rows)."""
    now = time.time()
    experiments = [f"bench-history-{i}" for i in range(10)]
    for k, experiment in enumerate(experiments):
        ops = []
        for j in range(entries // len(experiments)):
            age = (j * len(experiments) + k) / entries * days * 86400 + 7200
            ops.append(("upsert", {"PartitionKey": experiment, "RowKey": index_key(int((now - age) * 1000), str(uuid.uuid4())),
                                   "run_id": str(uuid.uuid4()), "created_time": ""}))
        for start in range(0, len(ops), 100):
            store.experiments.submit_transaction(ops[start:start + 100])


def _listing(store: RunStore, rounds: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"list the newest 20 runs": [], "read the whole index (before)": []}
    for _ in range(rounds):
        started = time.perf_counter()
        store.list_runs(top=20)
        found["list the newest 20 runs"].append(time.perf_counter() - started)
        started = time.perf_counter()
        sorted(store.experiments.list_entities(results_per_page=200), key=lambda e: e["RowKey"])
        found["read the whole index (before)"].append(time.perf_counter() - started)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--history", type=int, default=5000, help="older runs' index entries for the listing part")
    args = parser.parse_args(argv)
    azurite = ensure_azurite(temporary=True)
    try:
        ws = Workspace(storage=azurite.connection_string)
        src = Path(tempfile.mkdtemp(prefix="amlite-bench-cli-"))
        (src / "hello.py").write_text("print('hello')\n")
        run = Experiment(ws, "bench-cli").submit(
            Pipeline(ws, [PythonScriptStep("hello.py", name="hello", source_directory=str(src))]))
        if run.wait_for_completion(show_output=False) != "Finished":
            raise SystemExit(f"the bench's run {run.id} did not finish")
        env = dict(os.environ, AMLITE_STORAGE=azurite.connection_string)
        python = sys.executable
        commands = {
            "python -c pass (floor)": [python, "-c", "pass"],
            "amlite runs": [python, "-c", _CLI, "runs"],
            "amlite show RUN": [python, "-c", _CLI, "show", run.id],
            "amlite runs, as before": [python, "-c", _BEFORE + _CLI, "runs"],
            "amlite show RUN, as before": [python, "-c", _BEFORE + _CLI, "show", run.id],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():  # interleaved: a neighbour's burst hits each alike
                times[name].append(_timed(command, env))
        store = services_for(azurite.connection_string).runs
        _seed_history(store, args.history)
        listing = _listing(store, args.rounds)
    finally:
        azurite.stop()
    floor = statistics.median(times["python -c pass (floor)"]) * 1000
    print(f"# bench/cli_start.py: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.rounds} interleaved "
          f"rounds, {os.cpu_count()} cores")
    print("| command | median ms (min-max) | over the floor |")
    print("|---|---|---|")
    for name, values in times.items():
        ms = [v * 1000 for v in values]
        median = statistics.median(ms)
        print(f"| {name} | {median:.0f} ({min(ms):.0f}-{max(ms):.0f}) | {median - floor:+.0f} ms |")
    for shipped in ("amlite runs", "amlite show RUN"):
        saved = statistics.median(times[f"{shipped}, as before"]) - statistics.median(times[shipped])
        print(f"# {shipped}: {saved * 1000:.0f} ms faster than with what it loaded before")
    print(f"\nthe listing, with {args.history} older runs in the index:")
    for name, values in listing.items():
        ms = [v * 1000 for v in values]
        print(f"| {name} | {statistics.median(ms):.0f} ({min(ms):.0f}-{max(ms):.0f}) ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
