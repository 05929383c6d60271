"""How long a short CLI command takes, start to exit, against the interpreter's own start.

A user types ``amlite runs`` or ``amlite show RUN`` many times a day, and most of what such a
command costs is the start: the interpreter, amlite's modules and the Azure SDKs. Measured in one
run, interleaved, against the same Azurite (each command a fresh process, as a user runs it):

- the floor: the venv's ``python -c pass``;
- ``amlite runs`` and ``amlite show RUN`` as shipped;
- the same two with ``aiohttp`` imported first: what they cost before amlite kept the Storage SDK from
  loading it (``pipeline_core/_aiohttp_deferral.py``); the SDK imports it only for an ``isinstance``
  test, and it is installed because Durable Functions needs it.

Reported: medians (min-max) in ms, and each command's excess over the floor.
Usage: ``python bench/cli_start.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AMLITE_QUIET", "1")

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

#: The CLI as its console script runs it, optionally with modules imported first.
_CLI = "import runpy, sys; sys.argv = ['amlite', *sys.argv[1:]]; runpy.run_module('amlite_cli', run_name='__main__')"


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, timeout=120)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=10)
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
            "amlite runs, aiohttp loaded (before)": [python, "-c", "import aiohttp; " + _CLI, "runs"],
            "amlite show RUN, aiohttp loaded (before)": [python, "-c", "import aiohttp; " + _CLI, "show", run.id],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():  # interleaved: a neighbour's burst hits each alike
                times[name].append(_timed(command, env))
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
        saved = statistics.median(times[f"{shipped}, aiohttp loaded (before)"]) - statistics.median(times[shipped])
        print(f"# {shipped}: {saved * 1000:.0f} ms faster than with aiohttp loaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
