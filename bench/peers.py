"""amlite against Kedro, Dagster, Prefect and Airflow on the same pipelines of script steps.

Run: `make bench-peers` (builds each peer's pinned side venv under ``.bench-peers/`` once, then runs
this file with the repo's venv). By hand: ``python bench/peers.py --peers-dir .bench-peers
[--rounds 5] [--only chain,fanout]``. Azurite is reused if it answers on the configured ports, else
started in memory (set ``AMLITE_AZURITE_*_PORT`` for a private one on a shared machine).

Every step of every pipeline runs the same no-op script as a subprocess of its tool's own
interpreter (``python noop.py``), the way a script step runs. The work:

- ``chain``: a 10-step chain, timed in a process that has already run it once (imports, server,
  tables warm); reported as the overhead per step beyond the bare spawn floor;
- ``fanout``: 100 independent script steps and a join after them, wall time (warm, as above);
- ``cold``: from starting the driver process to the first step's script running (the script stamps
  the clock; Azurite is already up for amlite, the metadata DB already migrated for Airflow);
- ``rerun``: a fully cached rerun of the 10-step chain (where the tool can skip unchanged steps);
- ``python``: ``python -c pass`` with the tool's venv interpreter.

The floor, ``python3 -S -c pass`` with the base interpreter, is measured in every round of the same
run. Rounds are interleaved (each round runs every tool on every workload, the tool order rotated),
each measurement in a fresh driver process; the report gives medians with min/max and the ratio of
each peer to amlite. Each peer uses its documented fastest local mode: Kedro's SequentialRunner for
the chain and ThreadRunner for the fan-out, Dagster's ``execute_in_process``, Prefect's default
thread-pool task runner (its ephemeral API server), Airflow's ``dag.test()``. A peer that is not
installed, or cannot do a workload, is said so in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHAIN, FAN = 10, 100
PEERS = ("amlite", "kedro", "dagster", "prefect", "airflow")
WORKS = ("python", "chain", "fanout", "cold", "rerun")
#: The package each side venv pins (kept equal to the Makefile's PEERS).
PINS = {"kedro": "kedro==1.7.0", "dagster": "dagster==1.13.28", "prefect": "prefect==3.9.1",
        "airflow": "apache-airflow==3.3.2"}
TIMEOUT = 600
#: The real interpreter behind the venvs (``python3`` on PATH may be a pyenv shim, a shell script).
BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable


# ---------------------------------------------------------------- the step script (same for everyone)

def _scripts(work: Path) -> tuple[Path, Path]:
    """noop.py does nothing; mark.py appends the wall clock to the driver's BENCH_MARK file.

    The file's name is written into the script (a step's environment is allow-listed in amlite).
    """
    work.mkdir(parents=True, exist_ok=True)
    noop, mark = work / "noop.py", work / "mark.py"
    noop.write_text("pass\n")
    target = os.environ.get("BENCH_MARK", os.devnull)
    mark.write_text(f"import time\nwith open({target!r}, 'a') as f:\n    f.write(repr(time.time()) + '\\n')\n")
    return noop, mark


def _spawn(script: Path) -> None:
    """One step's work in the peers: the script as a subprocess of this interpreter."""
    subprocess.run([sys.executable, str(script)], check=True)


# ---------------------------------------------------------------- drivers (run inside each tool's venv)

def _amlite(work: str, scripts: tuple[Path, Path]) -> Callable[[], None]:
    os.environ.setdefault("AMLITE_QUIET", "1")
    sys.path.insert(0, str(ROOT))
    from pipeline_core import Experiment, Pipeline, PythonScriptStep, StepSequence, Workspace

    ws = Workspace(storage=os.environ["BENCH_STORAGE"])
    src = scripts[0].parent
    name = scripts[1].name if work == "cold" else scripts[0].name
    reuse = work == "rerun"

    def build() -> Pipeline:
        if work == "fanout":
            leaves = [PythonScriptStep(name, name=f"f{i}", source_directory=str(src), allow_reuse=False)
                      for i in range(FAN)]
            join = PythonScriptStep(name, name="join", source_directory=str(src), allow_reuse=False)
            for leaf in leaves:
                join.run_after(leaf)
            return Pipeline(ws, [*leaves, join])
        steps = [PythonScriptStep(name, name=f"s{i}", source_directory=str(src), allow_reuse=reuse)
                 for i in range(1 if work == "cold" else CHAIN)]
        return Pipeline(ws, StepSequence(steps=steps))

    experiment = Experiment(ws, f"bench-peers-{work}")

    def run() -> None:
        pipeline_run = experiment.submit(build())
        status = pipeline_run.wait_for_completion(show_output=False)
        if status != "Finished":
            raise RuntimeError(f"amlite run {pipeline_run.id} ended {status}")
    return run


def _kedro(work: str, scripts: tuple[Path, Path]) -> Callable[[], None]:
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node
    from kedro.runner import SequentialRunner, ThreadRunner

    script = scripts[1] if work == "cold" else scripts[0]

    def step(*_: Any) -> int:
        _spawn(script)
        return 0

    if work == "fanout":
        nodes = [node(step, inputs=None, outputs=f"f{i}", name=f"f{i}") for i in range(FAN)]
        nodes.append(node(step, inputs=[f"f{i}" for i in range(FAN)], outputs="done", name="join"))
        runner: Any = ThreadRunner(max_workers=16)
    elif work == "rerun":
        raise NotImplementedError("Kedro has no cache of node results: a rerun runs every node")
    else:
        count = 1 if work == "cold" else CHAIN
        nodes = [node(step, inputs=None if i == 0 else f"s{i - 1}", outputs=f"s{i}", name=f"s{i}")
                 for i in range(count)]
        runner = SequentialRunner()
    pipeline = Pipeline(nodes)
    return lambda: runner.run(pipeline, DataCatalog())


def _dagster(work: str, scripts: tuple[Path, Path]) -> Callable[[], None]:
    import dagster as dg

    script = scripts[1] if work == "cold" else scripts[0]
    if work == "rerun":
        raise NotImplementedError("Dagster op jobs have no result cache: a re-execution runs every op")

    def make(name: str, inputs: int) -> Any:
        ins = {f"i{k}": dg.In(dg.Nothing) for k in range(inputs)}

        @dg.op(name=name, ins=ins)
        def step() -> None:
            _spawn(script)
        return step

    if work == "fanout":
        leaves = [make(f"f{i}", 0) for i in range(FAN)]
        join = make("join", FAN)

        @dg.job(name="fanout")
        def job() -> None:
            join(**{f"i{k}": leaf() for k, leaf in enumerate(leaves)})
    else:
        ops = [make(f"s{i}", 0 if i == 0 else 1) for i in range(1 if work == "cold" else CHAIN)]

        @dg.job(name="chain")
        def job() -> None:
            previous = ops[0]()
            for op in ops[1:]:
                previous = op(i0=previous)

    instance = dg.DagsterInstance.ephemeral()

    def run() -> None:
        result = job.execute_in_process(instance=instance)
        if not result.success:
            raise RuntimeError("dagster job failed")
    return run


def _prefect(work: str, scripts: tuple[Path, Path]) -> Callable[[], None]:
    from prefect import flow, task
    from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

    script = scripts[1] if work == "cold" else scripts[0]
    if work == "rerun":
        options: dict[str, Any] = {"cache_policy": TASK_SOURCE + INPUTS, "persist_result": True}
    else:
        options = {"cache_policy": NO_CACHE}

    @task(**options)
    def step(index: int, after: int | None = None) -> int:
        _spawn(script)
        return index

    @flow(name=f"bench-{work}", log_prints=False)
    def pipeline() -> None:
        if work == "fanout":
            futures = [step.submit(i) for i in range(FAN)]
            step.submit(FAN, wait_for=futures).result()
        else:
            previous = None
            for i in range(1 if work == "cold" else CHAIN):
                previous = step(i, previous)
    return pipeline


AIRFLOW_DAG = """
import datetime
import subprocess
import sys

from airflow.sdk import DAG, task

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False) as dag:
    @task
    def step() -> None:
        subprocess.run([sys.executable, {script!r}], check=True)

    if {fan}:
        join = step.override(task_id="join")()
        for i in range({count}):
            step.override(task_id=f"f{{i}}")() >> join
    else:
        previous = None
        for i in range({count}):
            current = step.override(task_id=f"s{{i}}")()
            if previous is not None:
                previous >> current
            previous = current
"""


def _airflow(work: str, scripts: tuple[Path, Path]) -> Callable[[], None]:
    import importlib.util

    script = scripts[1] if work == "cold" else scripts[0]
    if work == "rerun":
        raise NotImplementedError("Airflow has no cache of task results: a new DAG run runs every task")
    # dag.test() serializes the DAG from the dags folder's bundle, so the DAG is a file there, as a user's is.
    folder = Path(os.environ["AIRFLOW_HOME"]) / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("bench_*.py"):
        old.unlink()
    dag_file = folder / f"bench_{work}.py"
    dag_file.write_text(AIRFLOW_DAG.format(dag_id=f"bench_{work}", script=str(script), fan=work == "fanout",
                                           count=FAN if work == "fanout" else 1 if work == "cold" else CHAIN))
    spec = importlib.util.spec_from_file_location(f"bench_{work}", dag_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run() -> None:
        result = module.dag.test()
        state = str(getattr(result, "state", "success"))
        if "success" not in state:
            raise RuntimeError(f"airflow dag run ended {state}")
    return run


DRIVERS: dict[str, Callable[[str, tuple[Path, Path]], Callable[[], None]]] = {
    "amlite": _amlite, "kedro": _kedro, "dagster": _dagster, "prefect": _prefect, "airflow": _airflow}


def driver_main(peer: str, work: str, scratch: Path) -> None:
    """In the peer's interpreter: build the pipeline, run it, print {"seconds": ...} (or why not)."""
    scripts = _scripts(scratch)
    try:
        run = DRIVERS[peer](work, scripts)
    except NotImplementedError as exc:
        print(json.dumps({"unsupported": str(exc)}))
        return
    if work == "cold":
        run()
        return
    run()  # warm: imports, servers, tables; for rerun, the run whose results the timed one reuses
    start = time.perf_counter()
    run()
    print(json.dumps({"seconds": time.perf_counter() - start}))


# ---------------------------------------------------------------- the orchestrating side (repo venv)

def _python(peers_dir: Path, peer: str) -> Path | None:
    if peer == "amlite":
        return Path(sys.executable)
    venv = peers_dir / PINS[peer].split("==")[0]  # the Makefile names each venv after its package
    python = venv / "bin" / "python"
    return python if (venv / ".installed").exists() and python.exists() else None


def _env(peer: str, peers_dir: Path, storage: str) -> dict[str, str]:
    env = dict(os.environ, BENCH_STORAGE=storage)
    # Any non-empty value (even "0") stops Python writing bytecode caches: every tool then imports its
    # own uncached modules from source in every run. Each tool runs as on a user's machine.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    home = (peers_dir / f"{peer}-home").resolve()
    if peer == "prefect":
        env.update(PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_LOGGING_TO_API_ENABLED="false",
                   # its ephemeral API server may take longer than the default 20 s on a loaded 2-core machine
                   PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    elif peer == "dagster":
        env.update(DAGSTER_HOME=str(home))
    elif peer == "airflow":
        env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
                   AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    elif peer == "kedro":
        env.update(KEDRO_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
    if peer != "amlite":
        home.mkdir(parents=True, exist_ok=True)
    return env


def _prepare(peer: str, python: Path, env: dict[str, str]) -> str | None:
    """One-off set-up outside the timings (Airflow's metadata DB); a reason if the peer cannot run."""
    if peer == "airflow":
        done = Path(env["AIRFLOW_HOME"]) / ".migrated"
        if not done.exists():
            proc = subprocess.run([str(python.parent / "airflow"), "db", "migrate"], env=env, capture_output=True,
                                  text=True, timeout=TIMEOUT)
            if proc.returncode != 0:
                return f"airflow db migrate failed: {proc.stderr.strip().splitlines()[-1:]}"
            done.touch()
    return None


def _measure(peer: str, work: str, python: Path, env: dict[str, str], scratch: Path) -> dict[str, Any]:
    if work == "python":
        start = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True, env=env)
        return {"seconds": time.perf_counter() - start}
    mark = scratch / f"mark-{peer}-{time.time_ns()}"
    env = dict(env, BENCH_MARK=str(mark))
    start_wall = time.time()
    proc = subprocess.run([str(python), __file__, "--driver", peer, work, "--scratch", str(scratch / peer)],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:200]}"}
    if work == "cold":
        stamps = mark.read_text().split() if mark.exists() else []
        if not stamps:
            return {"error": "the first step never ran"}
        return {"seconds": float(stamps[0]) - start_wall}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": "no result printed"}


def _floor(repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([BASE_PYTHON, "-S", "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _versions(peers_dir: Path, peers: list[str]) -> dict[str, str]:
    found = {"amlite": _git_head()}
    for peer in peers:
        if peer != "amlite":
            marker = peers_dir / PINS[peer].split("==")[0] / ".installed"
            found[peer] = marker.read_text().strip() if marker.exists() else "not installed"
    return found


def _git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _fmt(values: list[float], scale: float, unit: str) -> str:
    if not values:
        return "-"
    med = statistics.median(values) * scale
    digits = 1 if unit == "ms" else 2
    return f"{med:.{digits}f} {unit} ({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})"


def report(results: dict[str, dict[str, list[Any]]], floors: list[float], peers: list[str], works: list[str],
           versions: dict[str, str], rounds: int) -> str:
    floor = statistics.median(floors)
    lines = [f"# bench/peers.py: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {rounds} interleaved rounds, "
             f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
             "# versions: " + ", ".join(f"{p} {v}" for p, v in versions.items()),
             f"# floor `python3 -S -c pass` ({BASE_PYTHON}): {_fmt(floors, 1000, 'ms')} (median, min-max)",
             "# cells: median (min-max); [x] = peer / amlite", ""]
    labels = {"chain": f"{CHAIN}-step chain: overhead per step beyond the floor",
              "fanout": f"{FAN}-wide fan-out + join, wall", "cold": "cold start: command -> first step running",
              "rerun": f"fully cached rerun of the {CHAIN}-step chain", "python": "`python -c pass`, venv interpreter"}
    lines.append("| work | " + " | ".join(peers) + " |")
    lines.append("|---|" + "---|" * len(peers))
    for work in works:
        row: list[str] = []
        base: float | None = None
        for peer in peers:
            cell = results.get(peer, {}).get(work, [])
            values = [c["seconds"] for c in cell if "seconds" in c]
            if work == "chain":
                values = [c["seconds"] / CHAIN - c.get("floor", floor) for c in cell if "seconds" in c]
            problems = {c.get("unsupported") or c.get("error") for c in cell if "seconds" not in c}
            if not values:
                row.append("n/a: " + "; ".join(sorted(p for p in problems if p))[:120] if problems else "-")
                continue
            scale, unit = (1000, "ms") if work in ("chain", "python") else (1, "s")
            text = _fmt(values, scale, unit)
            med = statistics.median(values)
            if peer == "amlite":
                base = med
            elif base:
                text += f" [{med / base:.2f}x]"
            if problems:
                text += f" ({len(problems)} failed)"
            row.append(text)
        lines.append(f"| {labels[work]} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--driver", nargs=2, metavar=("PEER", "WORK"), help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--peers-dir", default=str(ROOT / ".bench-peers"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated tools (default: all)")
    args = parser.parse_args(argv)
    if args.driver:
        driver_main(args.driver[0], args.driver[1], Path(args.scratch))
        return 0

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("AMLITE_QUIET", "1")
    from pipeline_core.storage.azurite import ensure_azurite

    peers_dir = Path(args.peers_dir).resolve()
    peers = [p for p in args.peers.split(",") if p]
    works = [w for w in (args.only.split(",") if args.only else WORKS) if w]
    azurite = ensure_azurite(temporary=True)
    scratch = Path(tempfile.mkdtemp(prefix="amlite-peers-"))
    results: dict[str, dict[str, list[Any]]] = {p: {w: [] for w in works} for p in peers}
    pythons: dict[str, Path] = {}
    envs: dict[str, dict[str, str]] = {}
    for peer in peers:
        python = _python(peers_dir, peer)
        if python is None:
            for work in works:
                results[peer][work].append({"unsupported": f"not installed ({PINS[peer]}; see `make bench-peers`)"})
            continue
        envs[peer] = _env(peer, peers_dir, azurite.connection_string)
        problem = _prepare(peer, python, envs[peer])
        if problem:
            for work in works:
                results[peer][work].append({"error": problem})
            continue
        pythons[peer] = python
    floors: list[float] = []
    versions = _versions(peers_dir, peers)  # the code measured, not whatever HEAD is when the run ends
    try:
        for round_no in range(args.rounds):
            floors.append(_floor())
            order = list(pythons)[round_no % max(1, len(pythons)):] + list(pythons)[:round_no % max(1, len(pythons))]
            for work in works:
                for peer in order:
                    if any("unsupported" in c for c in results[peer][work]):
                        continue
                    try:
                        outcome = _measure(peer, work, pythons[peer], envs[peer], scratch)
                    except subprocess.TimeoutExpired:
                        outcome = {"error": f"timed out after {TIMEOUT} s"}
                    if work == "chain" and "seconds" in outcome:  # the floor next to it: a neighbour's burst hits both
                        outcome["floor"] = _floor()
                    results[peer][work].append(outcome)
                    print(f"round {round_no + 1} {work:7s} {peer:8s} {outcome}", file=sys.stderr, flush=True)
                    # kept as it goes: an interrupted run still leaves its measurements
                    (scratch / "results.json").write_text(json.dumps({"results": results, "floors": floors}))
    finally:
        azurite.stop() if hasattr(azurite, "stop") else None
    text = report(results, floors, peers, works, versions, args.rounds)
    print(text)
    (scratch / "results.json").write_text(json.dumps({"results": results, "floors": floors}, indent=1))
    print(f"\n(raw results: {scratch / 'results.json'})")
    print(f"(raw results: {scratch / 'results.json'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
