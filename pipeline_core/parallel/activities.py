"""The ParallelRunStep activities an orchestrator schedules: prepare, run one slice, finish.

Contract (each idempotent, each returns a small JSON dict, none raises for a
mini-batch or step failure):

``prs_prepare(services, run_id, step)``
    -> ``{"done": False, "batches", "concurrency", "items", "limits", "run_max_try",
    "run_invocation_timeout", "slice_max", "chunk_tasks"}``, or ``{"done": True, "result":
    <step result>}`` when the step is already terminal, reused, canceled, or failed while preparing.
``prs_run_slice(services, run_id, step, start, end, carried=None)``
    -> ``{"start", "end", "next", "status": "done"|"cut"|"aborted"|"canceled", "completed",
    "succeeded_batches", "failed_batches", "retried_batches", "items", "succeeded_items",
    "failed_items", "error"?}`` over the mini-batches ``[start, next)`` (see ``slices``). A
    redelivery runs only what is not recorded yet and counts the recorded results.
``prs_finish(services, run_id, step, summary)`` -> the step result, like ``run_step``'s.

Only counts and indices pass through the orchestrator: the batch list, the
rows and the per-mini-batch ledger live in Blob and Table storage.

The step-level bookkeeping (early result, refusal, inputs, reuse, the Running
transition, the snapshot's working copy, the environment, the end) is the public
``StepContext``'s (``engine/step_context.py``); ``ParallelStepContext`` only adds the
resolved config to the reuse key and shares one dataset listing between the key and
the batches. The kind is registered in ``engine/builtin_step_kinds.py`` as the
``parallel_step`` sub-orchestration (``functions/parallel.py``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from pipeline_core.data.dataset_paths import DatasetFile, list_files
from pipeline_core.data.tabular_dataset import check_sliceable
from pipeline_core.data.web_files import WEB_DATASTORE
from pipeline_core.engine.reuse import fit_manifests, output_manifest, reuse_key
from pipeline_core.engine.services import Services
from pipeline_core.engine.step_context import StepContext, is_cancel_requested, work_root
from pipeline_core.errors import AmliteError
from pipeline_core.execution.binding import (
    Location,
    data_folder,
    dataset_identity,
    download_location,
    input_location,
    resolve_token,
    resolved_dataset,
)
from pipeline_core.execution.environments import StepEnvironment, ensure_environment
from pipeline_core.execution.logs import LOGS_CONTAINER
from pipeline_core.execution.snapshot import script_path
from pipeline_core.parallel import plan as plans
from pipeline_core.parallel.batches import FAILED as BATCH_FAILED
from pipeline_core.parallel.batches import (
    RESULT_FIELDS,
    BatchStore,
    clip,
    inputs_of,
    result_of,
    transaction_groups,
)
from pipeline_core.parallel.batches import SUCCEEDED as BATCH_SUCCEEDED
from pipeline_core.parallel.config import DEFAULT_APPEND_ROW_FILE, ConfigError, batch_size_for, resolve
from pipeline_core.parallel.fanout import CHUNK_TASKS, SLICE_MAX
from pipeline_core.parallel.fetch import fast_lister, location_files, parquet_row_groups
from pipeline_core.parallel.outputs import OutputSync, commit_rows
from pipeline_core.parallel.partition import BatchInput, make_batches
from pipeline_core.parallel.report import Reporter, initial_progress, note
from pipeline_core.parallel.settings import (
    WORKER_LOG_DIR,
    WORKER_LOGGING_LEVEL,
    WORKER_OUTPUT_DIR,
    parallel_settings,
)
from pipeline_core.parallel.slices import SliceRun, rows_target, slice_result, tally
from pipeline_core.parallel.summary import limit_reason
from pipeline_core.parallel.worker import PoolClosed, WorkerPool, WorkerSetup, close_pool, find_pool, get_pool
from pipeline_core.runcontext.server import end_run_context
from pipeline_core.spec_types import DataEntry
from pipeline_core.storage.blobs import list_prefix
from pipeline_core.storage.run_store import (
    CANCELED,
    FAILED,
    FINISHED,
    RUNNING,
    TERMINAL,
    step_key,
    utcnow,
)
from pipeline_core.storage.side_by_side import beside

log = logging.getLogger("amlite.parallel")

DEFAULT_OUTPUT = "parallel_run_output"  # where append_row lands when the step declares no output


class ParallelStepContext(StepContext):
    """A ParallelRunStep's step context: the reuse key includes the resolved config; dataset listings are shared."""

    def config(self) -> dict[str, Any]:
        return resolve(self.step["parallel_run_config"], self.parameters)

    def reuse_key(self, inputs: dict[str, Location]) -> tuple[str, dict[str, Any]]:
        """The script step's key plus the resolved config: a different mini_batch_size is a different step."""
        _, parts = super().reuse_key(inputs)
        try:
            config: Any = self.config()
        except ConfigError:
            config = self.step["parallel_run_config"]
        params = {**parts["params"], "parallel_run_config": json.dumps(config, sort_keys=True)}
        return reuse_key(self.step, parts["arguments"], params, parts["inputs"], parts["outputs"])

    def listing(self, definition: dict[str, Any]) -> list[DatasetFile]:
        """A dataset's files, listed once per prepare (the reuse key and the batches both need them)."""
        key = json.dumps(definition["paths"], sort_keys=True)
        listed: dict[str, list[DatasetFile]] = self.__dict__.setdefault("_listed", {})
        if key not in listed:
            listed[key] = list_files(self.services.container_for, definition["paths"], fast_lister)
        return listed[key]

    def dataset_identity(self, entry: DataEntry) -> dict[str, Any]:
        return dataset_identity(self.services.container_for, entry, self.listing(entry["definition"]))

    def output(self) -> tuple[str, Location] | None:
        outputs = self.step["outputs"]
        if outputs:
            return outputs[0], self.output_location(outputs[0])
        return None


def _services_key(services: Services, run_id: str, step: str) -> tuple[str, str, str]:
    return (services.storage, run_id, step)


def _container(services: Services) -> Any:
    return services.account.container(plans.PRS_CONTAINER)


# -- prepare ----------------------------------------------------------------------
def _prepared(plan: dict[str, Any]) -> dict[str, Any]:
    config = plan["config"]
    return {"done": False, "batches": plan["batches"], "concurrency": plan["concurrency"], "items": plan.get("items"),
            "limits": plan["limits"], "run_max_try": config["run_max_try"],
            "run_invocation_timeout": config["run_invocation_timeout"],
            "slice_max": plan.get("slice_max", SLICE_MAX), "chunk_tasks": plan.get("chunk_tasks", CHUNK_TASKS),
            "lookahead": plan.get("lookahead", 0)}


def _batch_inputs(ctx: ParallelStepContext, inputs: dict[str, Location]) -> tuple[list[BatchInput], dict[str, Any]]:
    data = ctx.spec.data
    found: list[BatchInput] = []
    metas: dict[str, Any] = {}
    for spec_input in ctx.step["parallel_inputs"]:
        data_id = spec_input["data"]
        entry, loc = data[data_id], inputs[data_id]
        if entry["kind"] == "dataset":
            entry = resolved_dataset(entry, ctx.parameters)
            definition = entry["definition"]
            files = ctx.listing(definition)
            meta = {"type": entry["dataset_type"], "format": definition.get("format"),
                    "include_path": bool(definition.get("include_path")),
                    "partition_format": definition.get("partition_format"),
                    "transforms": definition.get("transforms") or []}
            if meta["transforms"]:
                check_sliceable(definition, data_id)
            if any(p["datastore"] == WEB_DATASTORE for p in definition["paths"]):
                raise AmliteError(f"ParallelRunStep {ctx.name!r}: input {data_id!r} reads http(s) URLs; mini-batches "
                                  "are read from datastores, so upload the files first (Datastore.upload_files)")
            where = ", ".join(f"{p['datastore']}:{p['path']}" for p in definition["paths"])
        else:
            files = location_files(ctx.services.container_for(loc.datastore), loc.datastore, loc.path)
            tabular = spec_input.get("tabular") or {}
            meta = {"type": spec_input["type"], "format": tabular.get("format"),
                    "include_path": bool(tabular.get("include_path")),
                    "partition_format": tabular.get("partition_format")}
            where = f"{loc.datastore}:{loc.path}"
        if not files:
            raise AmliteError(f"ParallelRunStep {ctx.name!r}: input {data_id!r} holds no files ({where}); "
                              "upload the data or fix the input")
        metas[data_id] = meta
        found.append(BatchInput(data_id, meta["type"], files, meta["format"], meta["partition_format"]))
    return found, metas


def _make_plan(ctx: ParallelStepContext, inputs: dict[str, Location]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    config = ctx.config()
    batch_inputs, metas = _batch_inputs(ctx, inputs)
    size = batch_size_for(config, ctx.step.get("input_type", "file"))
    batches = make_batches(batch_inputs, size, config.get("partition_keys"),
                           parquet_row_groups(ctx.services.container_for))
    processes = config.get("process_count_per_node") or os.cpu_count() or 1
    output = ctx.output()
    if output is None and config["output_action"] == "append_row":
        output = (DEFAULT_OUTPUT, Location(plans.PRS_CONTAINER, f"{ctx.run_id}/{ctx.name}/{DEFAULT_OUTPUT}"))
    known = [b["items"] for b in batches]
    tuning = parallel_settings()
    plan = {"config": config, "concurrency": int(config["node_count"]) * int(processes),
            # Fixed at prepare time (recorded in the plan and the orchestrator's history), so replays agree.
            "slice_max": tuning.slice_max, "chunk_tasks": tuning.chunk_tasks, "lookahead": tuning.lookahead,
            "input_type": ctx.step.get("input_type", "file"), "inputs": metas, "mini_batch_size": size,
            "output": {"data": output[0], **output[1].to_dict()} if output else None,
            "items": sum(known) if all(k is not None for k in known) else None,
            "limits": {"error_threshold": config["error_threshold"],
                       "allowed_failed_count": config.get("allowed_failed_count"),
                       "allowed_failed_percent": config.get("allowed_failed_percent")}}
    return plan, batches


def prs_prepare(services: Services, run_id: str, step: str) -> dict[str, Any]:
    """Mark the step Running (or reuse it), resolve its config, partition its inputs, store the batch list."""
    ctx = ParallelStepContext(services, run_id, step)
    early = ctx.early_result()  # terminal already, or the run was canceled
    if early is not None:
        return {"done": True, "result": early}
    running = ctx.row.get("status") == RUNNING
    if running:
        existing = plans.read_plan(_container(services), run_id, step)
        if existing is not None:  # a redelivered prepare: the first one finished
            return _prepared(existing)
    refused = ctx.refusal()
    if refused:
        return {"done": True, "result": ctx.fail(refused)}
    try:
        inputs = ctx.input_locations()
        key, parts = ctx.reuse_key(inputs)
    except AmliteError as exc:
        return {"done": True, "result": ctx.fail(str(exc))}
    if not running:
        reused = ctx.try_reuse(key, parts)
        if reused is not None:
            return {"done": True, "result": reused}
        other = ctx.begin(inputs, key, parts)
        if other is not None:
            return {"done": True, "result": other}
    try:
        plan, batches = _make_plan(ctx, inputs)
        plan["batches"] = len(batches)
        _prewarm(services, run_id, step, plan)  # the workers start while the rest of prepare runs
        plans.write_plan(_container(services), run_id, step, plan, batches)
    except (AmliteError, ValueError, ImportError) as exc:
        close_pool(_services_key(services, run_id, step))
        return {"done": True, "result": ctx.fail(f"ParallelRunStep {step!r}: {exc}")}
    except Exception as exc:  # infrastructure: the step fails with the reason, the run goes on
        log.exception("preparing ParallelRunStep %s of run %s failed", step, run_id)
        close_pool(_services_key(services, run_id, step))
        return {"done": True, "result": ctx.fail(f"{type(exc).__name__}: {exc}")}
    # The progress row and the log's first line side by side: independent, and both are written before any
    # slice runs (a slice's reporter adds to that progress and appends to that log).
    progress = beside(_start_progress, services, run_id, step, initial_progress(plan.get("items"), len(batches)))
    note(services, run_id, step, f"[amlite] ParallelRunStep {step!r} of run {run_id}: {len(batches)} mini-batches "
         f"of {plan['mini_batch_size']} {'bytes' if plan['input_type'] == 'tabular' else 'files'}"
         f"{' (by partition_keys)' if plan['config'].get('partition_keys') else ''}, "
         f"concurrency {plan['concurrency']}, output_action {plan['config']['output_action']}", create=True)
    progress.result()
    return _prepared(plan)


def _start_progress(services: Services, run_id: str, step: str, progress: dict[str, Any]) -> None:
    try:
        services.runs.update(run_id, step_key(step), {"progress": progress})
    except Exception as exc:  # progress is a convenience
        log.warning("could not record the progress of step %s: %s", step, exc)


def _prewarm(services: Services, run_id: str, step: str, plan: dict[str, Any]) -> None:
    """Start this host's workers (and their ``init()``) while the orchestrator schedules the first slices.

    At most one host's share of the workers (``process_count_per_node``), and never more than there
    are mini-batches; a host that runs no slice of the step closes them when idle (see ``worker``).
    """
    if not parallel_settings().prewarm:
        return
    count = min(int(plan["config"].get("process_count_per_node") or os.cpu_count() or 1), int(plan["batches"]))

    def warm() -> None:
        try:
            pool = get_pool(_services_key(services, run_id, step), lambda: _build_pool(services, run_id, step, plan))
            pool.prewarm(count)
        except PoolClosed:
            pass
        except Exception as exc:  # the first slice meets (and records) the same problem
            log.info("could not start the workers of step %s ahead of time: %s", step, exc)

    threading.Thread(target=warm, name=f"prs-prewarm-{step[:12]}", daemon=True).start()


# -- slices -----------------------------------------------------------------------
def _build_pool(services: Services, run_id: str, step: str, plan: dict[str, Any]) -> WorkerPool:
    """This host's workers for the step: a working copy of the snapshot, side inputs, argv and environment."""
    ctx = ParallelStepContext(services, run_id, step)
    work = Path(tempfile.mkdtemp(prefix=f"prs-{step[:20]}-", dir=work_root()))
    try:
        src = ctx.working_copy(work / "src")
        script_path(src, ctx.step["script_name"], step)
        batched = {p["data"] for p in ctx.step["parallel_inputs"]}
        upstream = ctx.upstream_outputs()
        paths: dict[str, Path] = {}
        for data_id in ctx.step["inputs"]:
            if data_id in batched:
                paths[data_id] = data_folder(work, "inputs", data_id)
                paths[data_id].mkdir(parents=True, exist_ok=True)
            else:
                loc = input_location(ctx.spec.data[data_id], data_id, ctx.parameters, upstream)
                paths[data_id] = download_location(services.container_for, loc, data_folder(work, "side", data_id))
        out_dir = work / "out"
        out_dir.mkdir()
        output = plan.get("output")
        if output:
            paths[output["data"]] = out_dir
        config = plan["config"]
        env = ctx.environment(paths)
        env.update(config.get("environment_variables") or {})
        env.update({WORKER_LOGGING_LEVEL: config["logging_level"], WORKER_OUTPUT_DIR: str(out_dir),
                    WORKER_LOG_DIR: str(work / "logs")})
        argv = [resolve_token(t, ctx.parameters, paths) for t in ctx.step["arguments"]]
        declared = StepEnvironment.from_spec(ctx.step.get("environment"))
        python = str(ensure_environment(declared)) if declared is not None else sys.executable
        setup = WorkerSetup(src=src, script=ctx.step["script_name"], argv=argv, env=env, log_dir=work / "logs", python=python,
                            init_timeout=parallel_settings().init_timeout_seconds,
                            log_container=services.account.container(LOGS_CONTAINER),
                            log_prefix=f"{run_id}/{step}/user")
        reserved = [config.get("append_row_file_name") or DEFAULT_APPEND_ROW_FILE] \
            if config["output_action"] == "append_row" else []
        sync = OutputSync(services.container_for(output["datastore"]), out_dir, output["path"], reserved).sync \
            if output else (lambda: 0)
        # This host's share of the processes, as on one AML node; the orchestrators' queued slices wait for them.
        limit = int(config.get("process_count_per_node") or os.cpu_count() or 1)
        pool = WorkerPool(setup=setup, work=work, sync_outputs=sync, limit=limit)
        reporter = Reporter(services, run_id, step)
        pool.context["reporter"] = reporter
        pool.closers.append(reporter.close)
        pool.closers.append(lambda: end_run_context(env))  # after the workers' last metrics are sent
        _watch_for_cancel(services, run_id, step, pool)
        return pool
    except BaseException:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        raise


def _watch_for_cancel(services: Services, run_id: str, step: str, pool: WorkerPool,
                      poll_seconds: float = 1.0) -> None:
    """Stop this host's workers within a second of a cancel, wherever the slices were scheduled from.

    Under Durable the orchestrator cannot interrupt a running activity, so the pool itself
    watches the run row while it lives, as a script step's process does: one query per
    second per host, instead of one per mini-batch. The first check is immediate, so a
    pool built after the cancel never starts a mini-batch.
    """
    def watch() -> None:
        while not pool.canceled:
            try:
                if is_cancel_requested(services, run_id, step):
                    pool.cancel()
                    return
            except Exception as exc:  # storage hiccup: keep watching
                log.debug("cancel check for %s/%s failed: %s", run_id, step, exc)
            time.sleep(poll_seconds)

    threading.Thread(target=watch, name=f"prs-cancel-{step[:12]}", daemon=True).start()


def prs_run_slice(services: Services, run_id: str, step: str, start: int, end: int,
                  carried: dict[str, int] | None = None) -> dict[str, Any]:
    """Run mini-batches ``[start, end)`` on one of this host's workers; what is recorded already is not run again."""
    plan = plans.read_plan(_container(services), run_id, step)
    if plan is None or not 0 <= start < end <= int(plan["batches"]):
        return {"start": start, "end": end, "next": end, "status": "failed", **tally([]),
                "error": f"mini-batches {start}-{end - 1} are not part of the prepared step {step!r} "
                         "(was prs_prepare run?)"}
    recorded = BatchStore(services.account).recorded(run_id, step, start, end)
    if len(recorded) == end - start:  # a redelivery of a slice that finished: its recorded result
        return slice_result(start, end, end, "done", {i: result_of(r) for i, r in recorded.items()})
    try:
        pool = get_pool(_services_key(services, run_id, step), lambda: _build_pool(services, run_id, step, plan))
    except PoolClosed as exc:  # a slice delivered after the step finished: nothing to run, nothing to record
        return {"start": start, "end": end, "next": start, "status": "canceled", **tally([]), "error": str(exc)}
    except Exception as exc:  # the workers could not be set up on this host: every mini-batch of the slice failed
        log.exception("mini-batches %s-%s of step %s could not run", start, end - 1, step)
        return _record_setup_failure(services, run_id, step, plan, start, end,
                                     f"could not start the step's workers: {type(exc).__name__}: {exc}",
                                     clip(traceback.format_exc()))
    return SliceRun(services, run_id, step, plan, pool, start, end, carried).run(recorded)


def _record_setup_failure(services: Services, run_id: str, step: str, plan: dict[str, Any], start: int, end: int,
                          error: str, trace: str) -> dict[str, Any]:
    """Record each mini-batch of the slice as failed with the reason (unless recorded already), and count them."""
    store = BatchStore(services.account)
    recorded = store.recorded(run_id, step, start, end)
    rows = []
    for index in range(start, end):
        if index not in recorded:
            batch = plans.read_batch(_container(services), run_id, step, index)
            items = int(batch.get("items") or 1)
            rows.append(store.entity(run_id, step, index, {
                "status": BATCH_FAILED, "tries": 1, "items": items, "succeeded_items": 0, "failed_items": items,
                "error": error, "traceback": trace, "inputs": clip(json.dumps([f["name"] for f in batch["files"]])),
                "end_time": utcnow()}))
    for group in transaction_groups(rows):
        store.record(group)
    results = {i: result_of(r) for i, r in store.recorded(run_id, step, start, end).items()}
    return slice_result(start, end, end, "done", results)


# -- finish -----------------------------------------------------------------------
def _tally(rows: list[dict[str, Any]], batches: int) -> dict[str, int]:
    done = [r for r in rows if r.get("status") in (BATCH_SUCCEEDED, BATCH_FAILED)]
    return {"batches": batches, "finished_batches": len(done),
            **{k: v for k, v in tally([result_of(r) for r in done]).items() if k != "completed"}}


def _first_failure(services: Services, run_id: str, step: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    first = next((r for r in rows if r.get("status") == BATCH_FAILED), None)
    if first is None:
        return None
    row = BatchStore(services.account).get(run_id, step, int(first["index"])) or first
    return {"mini_batch": int(row["index"]), "error": row.get("error") or "",
            "traceback": row.get("traceback") or "", "inputs": inputs_of(row)[:10]}


def _write_append_row(services: Services, plan: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Commit the row blocks the ledger names, in mini-batch order (see ``outputs``)."""
    flushes: dict[str, int] = {}
    for row in rows:
        if row.get("status") == BATCH_SUCCEEDED and row.get("rows_block"):
            flushes.setdefault(str(row["rows_block"]), int(row.get("rows_parts") or 0))
    target = rows_target(services, plan)
    assert target is not None
    commit_rows(target, list(flushes.items()))


def prs_finish(services: Services, run_id: str, step: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Apply the failure limits to the recorded batches, write the append_row file, end the step."""
    ctx = ParallelStepContext(services, run_id, step)
    key = _services_key(services, run_id, step)
    if ctx.row.get("status") in TERMINAL:
        close_pool(key)
        return ctx.result()
    plan = plans.read_plan(_container(services), run_id, step)
    pool = find_pool(key)
    reporter = pool.context.get("reporter") if pool is not None else None
    if isinstance(reporter, Reporter):
        reporter.finishing()  # its last flush writes the lines only: the end below writes the progress
    # Stopping this host's workers (their shutdown(), the last output_dir files and report) overlaps the
    # ledger read; both are done before the outputs are listed and the step ends.
    closing = threading.Thread(target=close_pool, args=(key,), name=f"prs-close-{step[:12]}", daemon=True)
    closing.start()
    if plan is None:
        closing.join()
        return ctx.fail(f"ParallelRunStep {step!r} was finished without being prepared")
    try:
        rows = BatchStore(services.account).rows(run_id, step, select=RESULT_FIELDS)
    finally:
        closing.join()
    counts = _tally(rows, int(plan["batches"]))
    all_ran = counts["finished_batches"] == counts["batches"]
    canceled = bool(summary.get("canceled")) or is_cancel_requested(services, run_id, step)
    reason = limit_reason(counts, plan["limits"], all_ran) or summary.get("aborted")
    if reason is None and not all_ran and not canceled:
        reason = (f"only {counts['finished_batches']} of {counts['batches']} mini-batches finished; "
                  "the step ended before the others ran")
    outputs: dict[str, Any] = {}
    manifests: dict[str, Any] = {}
    output = plan.get("output")
    if output:
        try:
            if plan["config"]["output_action"] == "append_row":
                _write_append_row(services, plan, rows)
            blobs = list_prefix(services.container_for(output["datastore"]), output["path"])
            manifests[output["data"]] = output_manifest(blobs, output["path"])
            outputs[output["data"]] = {"datastore": output["datastore"], "path": output["path"], "count": len(blobs)}
        except Exception as exc:
            log.exception("writing the output of step %s failed", step)
            reason = reason or f"could not write the step's output: {type(exc).__name__}: {exc}"
    total = plan.get("items") if plan.get("items") is not None else counts["items"]
    progress = {"total": total, "processed": counts["succeeded_items"] + counts["failed_items"],
                "succeeded": counts["succeeded_items"], "failed": counts["failed_items"], **counts}
    note(services, run_id, step, f"[amlite] {counts['finished_batches']} of {counts['batches']} mini-batches ran: "
          f"{counts['failed_batches']} failed, {counts['retried_batches']} succeeded on a retry; items "
          f"{counts['succeeded_items']} succeeded, {counts['failed_items']} failed"
          + (f"; {reason}" if reason else ""))
    if canceled:
        result = ctx.end(CANCELED, {"outputs": outputs, "progress": progress,
                                     "error": {"message": "canceled while running"}})
    elif reason:
        first = _first_failure(services, run_id, step, rows)
        message = reason
        if first:
            message += f"; first failure: mini-batch {first['mini_batch']}: {first['error']}"
        result = ctx.end(FAILED, {"outputs": outputs, "progress": progress,
                                   "error": {"message": message, "first_failure": first}})
    else:
        result = ctx.end(FINISHED, {"outputs": outputs, "progress": progress, "is_reused": False})
        if ctx.row.get("status") == FINISHED and ctx.row.get("reuse_key"):
            parts = (ctx.row.get("reuse") or {}).get("parts") or {}
            services.reuse.record(ctx.row["reuse_key"], run_id, step, outputs, parts, fit_manifests(manifests))
            services.reuse.record_latest(ctx.run["experiment"], step, parts)
    if result.get("status") in TERMINAL:
        plans.forget(_container(services), run_id, step)
    return result


__all__ = ["prs_finish", "prs_prepare", "prs_run_slice"]
