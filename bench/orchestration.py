"""Orchestration overhead: amlite's dev-host engine vs durabletask's in-memory backend.

Runs the same two workloads of no-op activities through both, in one process:

- a 10-step chain (sequential activities) -> milliseconds per step;
- a 1,000-wide fan-out/fan-in, twice -> seconds, and second/first ratio
  (a growing ratio would mean state leaking between runs).

Peer: ``durabletask.testing.InMemoryOrchestrationBackend`` (durabletask
1.12.0), an in-process gRPC sidecar with an in-memory store, driven by
``TaskHubGrpcWorker`` + ``TaskHubGrpcClient``: the closest in-process peer.

Targets for amlite: chain <= 4 ms/step, fan-out(1000) <= 1.0 s, second
fan-out <= 1.2x the first.  Usage: ``python bench/orchestration.py``.

``--store`` runs amlite's engine with its orchestration store (every replay
episode written to Table storage before its work is dispatched, as ``amlite
dev`` does with ``AzureWebJobsStorage``) against an Azurite on the configured
ports (a fresh in-memory one if none answers).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep grpc's shutdown chatter out of the report

import azure.durable_functions as df  # noqa: E402

from amlite_devhost.app_loader import index_app  # noqa: E402
from amlite_devhost.durable import DurableEngine, RuntimeStatus  # noqa: E402

TARGET_STEP_MS = 4.0
TARGET_FANOUT_S = 1.0
TARGET_SECOND_RATIO = 1.2

bench_app = df.DFApp()


@bench_app.activity_trigger(input_name="value")
def noop(value: Any) -> Any:
    return value


@bench_app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    value = 0
    for _ in range(context.get_input()):
        value = yield context.call_activity("noop", value + 1)
    return value


@bench_app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    results = yield context.task_all([context.call_activity("noop", i) for i in range(context.get_input())])
    return len(results)


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = run()
    return time.perf_counter() - began, result


# ---------------------------------------------------------------- amlite


def bench_amlite(steps: int, width: int, repeat: int, workers: int, storage: str | None = None) -> dict[str, float]:
    store = None
    if storage:
        import uuid

        from amlite_devhost.durable.store import OrchestrationStore

        store = OrchestrationStore(storage, f"bench{uuid.uuid4().hex[:8]}", owner="bench")
    engine = DurableEngine.from_app(index_app(bench_app), max_workers=workers, store=store)

    def run(name: str, value: int) -> Any:
        status = engine.wait_for_completion(engine.start_new(name, input=value), 120)
        assert status.runtime_status == RuntimeStatus.COMPLETED, status.output
        return status.output

    try:
        run("chain", 2)  # warm-up: imports, thread start
        chains = [timed(lambda: run("chain", steps))[0] for _ in range(repeat)]
        first, out1 = timed(lambda: run("fan_out", width))
        second, out2 = timed(lambda: run("fan_out", width))
        assert out1 == out2 == width
    finally:
        engine.shutdown()
    return {"step_ms": statistics.median(chains) / steps * 1000, "fan1_s": first, "fan2_s": second}


# ---------------------------------------------------------------- durabletask


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dt_noop(ctx: Any, value: Any) -> Any:
    return value


def dt_chain(ctx: Any, steps: int) -> Any:
    value = 0
    for _ in range(steps):
        value = yield ctx.call_activity(dt_noop, input=value + 1)
    return value


def dt_fan_out(ctx: Any, width: int) -> Any:
    from durabletask import task

    results = yield task.when_all([ctx.call_activity(dt_noop, input=i) for i in range(width)])
    return len(results)


def bench_durabletask(steps: int, width: int, repeat: int) -> dict[str, float] | None:
    try:
        from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
        from durabletask.testing import InMemoryOrchestrationBackend
        from durabletask.worker import TaskHubGrpcWorker
    except ImportError as exc:
        print(f"durabletask not available ({exc}); peer skipped")
        return None
    quiet = logging.getLogger("bench.durabletask")
    quiet.setLevel(logging.ERROR)
    logging.getLogger("durabletask.testing.in_memory_backend").setLevel(logging.ERROR)
    port = _free_port()
    backend = InMemoryOrchestrationBackend(port=port, max_history_size=100_000)
    address = backend.start()
    worker = TaskHubGrpcWorker(host_address=address, logger=quiet)
    worker.add_orchestrator(dt_chain)
    worker.add_orchestrator(dt_fan_out)
    worker.add_activity(dt_noop)
    worker.start()
    client = TaskHubGrpcClient(host_address=address, logger=quiet)

    def run(fn: Any, value: int) -> Any:
        iid = client.schedule_new_orchestration(fn, input=value)
        state = client.wait_for_orchestration_completion(iid, timeout=120)
        assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED, state
        return state.serialized_output

    try:
        run(dt_chain, 2)
        chains = [timed(lambda: run(dt_chain, steps))[0] for _ in range(repeat)]
        first, _ = timed(lambda: run(dt_fan_out, width))
        second, _ = timed(lambda: run(dt_fan_out, width))
    finally:
        worker.stop()
        backend.stop()
    return {"step_ms": statistics.median(chains) / steps * 1000, "fan1_s": first, "fan2_s": second}


# ---------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="chain length")
    parser.add_argument("--width", type=int, default=1000, help="fan-out width")
    parser.add_argument("--repeat", type=int, default=5, help="chain repetitions (median reported)")
    parser.add_argument("--workers", type=int, default=8, help="amlite activity workers")
    parser.add_argument("--no-peer", action="store_true", help="skip durabletask")
    parser.add_argument("--store", action="store_true", help="amlite keeps orchestration state in Azurite")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    azurite = None
    if args.store:
        from pipeline_core.storage.azurite import ensure_azurite

        azurite = ensure_azurite(temporary=True)
        print("amlite: orchestration state stored in Azurite (one transaction per replay episode)")
    try:
        ours = bench_amlite(args.steps, args.width, args.repeat, args.workers,
                            azurite.connection_string if azurite else None)
    finally:
        if azurite is not None:
            azurite.stop()
    peer = None if args.no_peer else bench_durabletask(args.steps, args.width, args.repeat)

    print(f"{'':28}{'amlite':>12}{'durabletask':>14}{'ratio':>9}")

    def row(label: str, key: str, unit: str) -> None:
        theirs = f"{peer[key]:>11.3f}{unit}" if peer else f"{'-':>14}"
        ratio = f"{ours[key] / peer[key]:>8.2f}x" if peer and peer[key] else f"{'-':>9}"
        print(f"{label:28}{ours[key]:>9.3f}{unit}{theirs}{ratio}")

    row(f"chain ({args.steps} steps) per step", "step_ms", " ms")
    row(f"fan-out ({args.width}) first", "fan1_s", " s ")
    row(f"fan-out ({args.width}) second", "fan2_s", " s ")
    ours_ratio = ours["fan2_s"] / ours["fan1_s"]
    peer_ratio = f"{peer['fan2_s'] / peer['fan1_s']:>11.2f}x  " if peer else f"{'-':>14}"
    print(f"{'second / first fan-out':28}{ours_ratio:>9.2f}x  {peer_ratio}")

    checks = [
        (f"chain <= {TARGET_STEP_MS} ms/step", ours["step_ms"] <= TARGET_STEP_MS),
        (f"fan-out <= {TARGET_FANOUT_S} s", ours["fan1_s"] <= TARGET_FANOUT_S and ours["fan2_s"] <= TARGET_FANOUT_S),
        (f"second fan-out <= {TARGET_SECOND_RATIO}x first", ours_ratio <= TARGET_SECOND_RATIO),
    ]
    if args.width != 1000 or args.steps != 10:
        print("(targets are defined for --steps 10 --width 1000)")
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
