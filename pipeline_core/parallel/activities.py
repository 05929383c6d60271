"""The ParallelRunStep activities an orchestrator schedules: prepare, run one batch, finish.

Contract (each idempotent, each returns a small JSON dict, none raises for a
batch or step failure):

``prs_prepare(services, run_id, step)``
    -> ``{"done": False, "batches", "concurrency", "items", "limits", "run_max_try",
    "run_invocation_timeout"}``, or ``{"done": True, "result": <step result>}`` when the
    step is already terminal, reused, canceled, or failed while preparing.
``prs_run_batch(services, run_id, step, index)``
    -> ``{"index", "status": "succeeded"|"failed"|"canceled", "items", "succeeded_items",
    "failed_items", "tries", "error"}``.
``prs_should_abort(summary)`` -> reason or None (pure; see ``summary``).
``prs_finish(services, run_id, step, summary)`` -> the step result, like ``run_step``'s.

Only counts and indices pass through the orchestrator: the batch list, the
rows and the per-batch ledger live in Blob and Table storage.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from pipeline_core.data.dataset_paths import list_files
from pipeline_core.engine.activities import _result, _StepRun, _work_root, is_cancel_requested, skip_steps
from pipeline_core.engine.reuse import reuse_key
from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError
from pipeline_core.execution.binding import (
    Location,
    download_location,
    input_location,
    output_location,
    resolve_token,
)
from pipeline_core.execution.logs import LOGS_CONTAINER, log_blob_name
from pipeline_core.execution.snapshot import working_copy
from pipeline_core.parallel import plan as plans
from pipeline_core.parallel.batches import FAILED as BATCH_FAILED
from pipeline_core.parallel.batches import SUCCEEDED as BATCH_SUCCEEDED
from pipeline_core.parallel.batches import BatchStore, clip, result_of
from pipeline_core.parallel.config import DEFAULT_APPEND_ROW_FILE, ConfigError, batch_size_for, resolve
from pipeline_core.parallel.fetch import fetch_batch, location_files, parquet_row_groups
from pipeline_core.parallel.outputs import OutputSync
from pipeline_core.parallel.partition import BatchInput, make_batches
from pipeline_core.parallel.summary import limit_reason, should_abort
from pipeline_core.parallel.worker import TryFailed, WorkerPool, WorkerSetup, close_pool, get_pool
from pipeline_core.storage.blobs import list_prefix
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    FINISHED,
    RUNNING,
    TERMINAL,
    InvalidTransition,
    utcnow,
)

log = logging.getLogger("amlite.parallel")

DEFAULT_OUTPUT = "parallel_run_output"  # where append_row lands when the step declares no output


class _ParallelStep(_StepRun):
    """The step-level half of a ParallelRunStep: reuse key (config included), transitions, snapshot, env."""

    def config(self) -> dict[str, Any]:
        return resolve(self.step["parallel_run_config"], self.parameters)

    def key(self, inputs: dict[str, Location]) -> tuple[str, dict[str, Any]]:
        """The script step's key plus the resolved config: a different mini_batch_size is a different step."""
        _, parts = super().key(inputs)
        try:
            config: Any = self.config()
        except ConfigError:
            config = self.step["parallel_run_config"]
        params = {**parts["params"], "parallel_run_config": json.dumps(config, sort_keys=True)}
        return reuse_key(self.step, parts["arguments"], params, parts["inputs"], parts["outputs"])

    def output(self) -> tuple[str, Location] | None:
        outputs = self.step["outputs"]
        if outputs:
            return outputs[0], output_location(self.spec.data[outputs[0]], outputs[0], self.run_id, self.name)
        return None


def _services_key(services: Services, run_id: str, step: str) -> tuple[str, str, str]:
    return (services.storage, run_id, step)


def _container(services: Services) -> Any:
    return services.account.container(plans.PRS_CONTAINER)


def _note(services: Services, run_id: str, step: str, text: str, create: bool = False) -> None:
    """Append to the step's ``std_log.txt`` (an append blob), so ``wait_for_completion`` shows progress.

    Only ``prs_prepare`` creates the blob (once: a redelivered prepare keeps what is there), so
    concurrent batches never race to create it.
    """
    blob = services.account.container(LOGS_CONTAINER).get_blob_client(log_blob_name(run_id, step))
    data = (text.rstrip("\n") + "\n").encode()
    try:
        if create and not blob.exists():
            blob.create_append_blob()
        blob.append_block(data)
    except Exception as exc:  # a log line is never worth failing a batch
        log.warning("could not append to the log of step %s: %s", step, exc)


# -- prepare ----------------------------------------------------------------------
def _prepared(plan: dict[str, Any]) -> dict[str, Any]:
    config = plan["config"]
    return {"done": False, "batches": plan["batches"], "concurrency": plan["concurrency"], "items": plan.get("items"),
            "limits": plan["limits"], "run_max_try": config["run_max_try"],
            "run_invocation_timeout": config["run_invocation_timeout"]}


def _batch_inputs(ctx: _ParallelStep, inputs: dict[str, Location]) -> tuple[list[BatchInput], dict[str, Any]]:
    data = ctx.spec.data
    found: list[BatchInput] = []
    metas: dict[str, Any] = {}
    for spec_input in ctx.step["parallel_inputs"]:
        data_id = spec_input["data"]
        entry, loc = data[data_id], inputs[data_id]
        if entry["kind"] == "dataset":
            definition = entry["definition"]
            files = list_files(ctx.services.container_for, definition["paths"])
            meta = {"type": entry["dataset_type"], "format": definition.get("format"),
                    "include_path": bool(definition.get("include_path")),
                    "partition_format": definition.get("partition_format")}
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


def _make_plan(ctx: _ParallelStep, inputs: dict[str, Location]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
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
    plan = {"config": config, "concurrency": int(config["node_count"]) * int(processes),
            "input_type": ctx.step.get("input_type", "file"), "inputs": metas, "mini_batch_size": size,
            "output": {"data": output[0], **output[1].to_dict()} if output else None,
            "items": sum(known) if all(k is not None for k in known) else None,
            "limits": {"error_threshold": config["error_threshold"],
                       "allowed_failed_count": config.get("allowed_failed_count"),
                       "allowed_failed_percent": config.get("allowed_failed_percent")}}
    return plan, batches


def prs_prepare(services: Services, run_id: str, step: str) -> dict[str, Any]:
    """Mark the step Running (or reuse it), resolve its config, partition its inputs, store the batch list."""
    ctx = _ParallelStep(services, run_id, step)
    if ctx.row.get("status") in TERMINAL:
        return {"done": True, "result": _result(step, ctx.row)}
    if ctx.run.get("status") in (CANCEL_REQUESTED, CANCELED) or ctx.row.get("status") == CANCEL_REQUESTED:
        skip_steps(services, run_id, {step: "the run was canceled"})
        return {"done": True, "result": {"step": step, "status": CANCELED, "reused": False,
                                         "error": "the run was canceled"}}
    if ctx.row.get("status") == RUNNING:
        existing = plans.read_plan(_container(services), run_id, step)
        if existing is not None:  # a redelivered prepare: the first one finished
            return _prepared(existing)
    data = ctx.spec.data
    try:
        inputs = {d: input_location(data[d], d, ctx.parameters, ctx.upstream_outputs()) for d in ctx.step["inputs"]}
        key, parts = ctx.key(inputs)
    except AmliteError as exc:
        return {"done": True, "result": ctx._fail(str(exc), None)}
    if ctx.row.get("status") != RUNNING:
        reused = ctx.try_reuse(key, parts)
        if reused is not None:
            return {"done": True, "result": reused}
        try:
            ctx.row = services.runs.transition_from(ctx.row, RUNNING, {
                "start_time": utcnow(), "attempt": int(ctx.row.get("attempt") or 0) + 1, "reuse_key": key,
                "reuse": {"decision": "ran", "parts": parts, "changed": ctx._changed(key, parts)}})
        except InvalidTransition as exc:
            return {"done": True, "result": _result(step, exc.row)}
    try:
        plan, batches = _make_plan(ctx, inputs)
        plans.write_plan(_container(services), run_id, step, plan, batches)
    except (AmliteError, ValueError, ImportError) as exc:
        return {"done": True, "result": ctx._fail(f"ParallelRunStep {step!r}: {exc}", None)}
    except Exception as exc:  # infrastructure: the step fails with the reason, the run goes on
        log.exception("preparing ParallelRunStep %s of run %s failed", step, run_id)
        return {"done": True, "result": ctx._fail(f"{type(exc).__name__}: {exc}", None)}
    plan["batches"] = len(batches)
    _note(services, run_id, step, f"[amlite] ParallelRunStep {step!r} of run {run_id}: {len(batches)} mini-batches "
          f"of {plan['mini_batch_size']} {'bytes' if plan['input_type'] == 'tabular' else 'files'}"
          f"{' (by partition_keys)' if plan['config'].get('partition_keys') else ''}, "
          f"concurrency {plan['concurrency']}, output_action {plan['config']['output_action']}", create=True)
    return _prepared(plan)


# -- one batch --------------------------------------------------------------------
def _build_pool(services: Services, run_id: str, step: str, plan: dict[str, Any]) -> WorkerPool:
    """This host's workers for the step: a working copy of the snapshot, side inputs, argv and environment."""
    ctx = _ParallelStep(services, run_id, step)
    work = Path(tempfile.mkdtemp(prefix=f"prs-{step[:20]}-", dir=_work_root()))
    try:
        src = working_copy(ctx._snapshot_dir(), work / "src")
        batched = {p["data"] for p in ctx.step["parallel_inputs"]}
        upstream = ctx.upstream_outputs()
        paths: dict[str, Path] = {}
        for data_id in ctx.step["inputs"]:
            if data_id in batched:
                paths[data_id] = work / "inputs" / data_id
                paths[data_id].mkdir(parents=True, exist_ok=True)
            else:
                loc = input_location(ctx.spec.data[data_id], data_id, ctx.parameters, upstream)
                paths[data_id] = download_location(services.container_for, loc, work / "side" / data_id.replace(":", "_"))
        out_dir = work / "out"
        out_dir.mkdir()
        output = plan.get("output")
        if output:
            paths[output["data"]] = out_dir
        config = plan["config"]
        env = ctx._environment(paths)
        env.update(config.get("environment_variables") or {})
        env.update({"AMLITE_PRS_LOGGING_LEVEL": config["logging_level"], "AMLITE_PRS_OUTPUT_DIR": str(out_dir),
                    "AMLITE_PRS_LOG_DIR": str(work / "logs")})
        argv = [resolve_token(t, ctx.parameters, paths) for t in ctx.step["arguments"]]
        setup = WorkerSetup(src=src, script=ctx.step["script_name"], argv=argv, env=env, log_dir=work / "logs",
                            init_timeout=float(os.environ.get("AMLITE_PRS_INIT_TIMEOUT", "600")),
                            log_container=services.account.container(LOGS_CONTAINER),
                            log_prefix=f"{run_id}/{step}/user")
        sync = OutputSync(services.container_for(output["datastore"]), out_dir, output["path"]).sync \
            if output else (lambda: 0)
        pool = WorkerPool(setup=setup, work=work, sync_outputs=sync)
        _watch_for_cancel(services, run_id, step, pool)
        return pool
    except BaseException:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        raise


def _watch_for_cancel(services: Services, run_id: str, step: str, pool: WorkerPool,
                      poll_seconds: float = 1.0) -> None:
    """Stop this host's workers within a second of a cancel, wherever the batches were scheduled from.

    Under Durable the orchestrator cannot interrupt a running activity, so the
    pool itself watches the run row while it lives, as a script step's process does.
    """
    def watch() -> None:
        while not pool.canceled:
            time.sleep(poll_seconds)
            try:
                if is_cancel_requested(services, run_id, step):
                    pool.cancel()
                    return
            except Exception as exc:  # storage hiccup: keep watching
                log.debug("cancel check for %s/%s failed: %s", run_id, step, exc)

    threading.Thread(target=watch, name=f"prs-cancel-{step[:12]}", daemon=True).start()


def _summary_line(index: int, fields: dict[str, Any]) -> str:
    text = (f"[amlite] mini-batch {index}: {fields['status']} after {fields['tries']} "
            f"{'try' if fields['tries'] == 1 else 'tries'}, {fields['succeeded_items']} of {fields['items']} items")
    if fields.get("error"):
        text += f"; {str(fields['error']).splitlines()[0]}"
    return text


def _run_tries(services: Services, pool: WorkerPool, plan: dict[str, Any], batch: dict[str, Any],
               run_id: str, step: str, token: str) -> dict[str, Any]:
    """Run one batch with up to ``run_max_try`` tries; a dict of the fields to record (status among them)."""
    config = plan["config"]
    index = batch["index"]
    rows_local = pool.work / "rows" / f"{index:08d}-{token}.txt" if config["output_action"] == "append_row" else None
    if rows_local is not None:
        rows_local.parent.mkdir(parents=True, exist_ok=True)
    first: TryFailed | None = None
    last: TryFailed | None = None
    items: int | None = batch.get("items")
    payload: dict[str, Any] | None = None
    cleanup: list[Path] = []
    tries = 0
    try:
        for attempt in range(1, int(config["run_max_try"]) + 1):
            if attempt > 1 and (pool.canceled or is_cancel_requested(services, run_id, step)):
                return {"status": "canceled", "tries": tries}
            tries = attempt
            try:
                worker = pool.acquire()
            except TryFailed:
                return {"status": "canceled", "tries": tries}
            try:
                if payload is None:
                    payload, cleanup = fetch_batch(services.container_for, batch, plan["inputs"][batch["input"]],
                                                   pool.work / "inputs")
                reply = worker.run(payload, str(rows_local) if rows_local else None,
                                   float(config["run_invocation_timeout"]))
            except TryFailed as exc:
                first, last = first or exc, exc
                items = exc.items if exc.items is not None else items
                continue
            except Exception as exc:  # fetching the batch failed: a failed try like any other
                failure = TryFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
                first, last = first or failure, failure
                continue
            finally:
                pool.release(worker)
            items = int(reply["items"])
            succeeded = min(int(reply["count"]), items)
            fields: dict[str, Any] = {"status": BATCH_SUCCEEDED, "tries": tries, "items": items,
                                      "succeeded_items": succeeded, "failed_items": items - succeeded,
                                      "error": first.message if first else "",
                                      "traceback": clip(first.traceback) if first else ""}
            if rows_local is not None and reply["count"] and rows_local.exists():
                name = plans.rows_blob_name(run_id, step, index, token)
                with open(rows_local, "rb") as handle:
                    _container(services).upload_blob(name, handle, overwrite=True)
                fields.update(rows_blob=name, rows_bytes=rows_local.stat().st_size, rows=int(reply["count"]))
            return fields
        if pool.canceled:
            return {"status": "canceled", "tries": tries}
        failed_items = items if items else 1  # a tabular batch that failed to load still failed
        return {"status": BATCH_FAILED, "tries": tries, "items": failed_items, "succeeded_items": 0,
                "failed_items": failed_items, "error": first.message if first else "",
                "traceback": clip(first.traceback) if first else "",
                "last_error": clip(last.message) if last and last is not first else ""}
    finally:
        for path in cleanup:
            path.unlink(missing_ok=True)
        if rows_local is not None:
            rows_local.unlink(missing_ok=True)


def prs_run_batch(services: Services, run_id: str, step: str, index: int) -> dict[str, Any]:
    """Run mini-batch ``index`` with retries in this host's workers; a finished batch returns its recorded result."""
    store = BatchStore(services.account)
    recorded = store.get(run_id, step, index)
    if recorded is not None and recorded.get("status") in (BATCH_SUCCEEDED, BATCH_FAILED):
        return result_of(recorded)
    empty = {"index": index, "items": 0, "succeeded_items": 0, "failed_items": 0, "tries": 0}
    plan = plans.read_plan(_container(services), run_id, step)
    if plan is None or not 0 <= index < int(plan["batches"]):
        return {**empty, "status": BATCH_FAILED,
                "error": f"mini-batch {index} is not part of the prepared step {step!r} (was prs_prepare run?)"}
    if is_cancel_requested(services, run_id, step):
        return {**empty, "status": "canceled", "error": "the run was canceled"}
    batch = plans.read_batch(_container(services), run_id, step, index)
    token = uuid.uuid4().hex[:12]
    done, etag = store.claim(run_id, step, index, token, [f["name"] for f in batch["files"]],
                             f"{socket.gethostname()}:{os.getpid()}", existing=recorded)
    if done is not None:
        return result_of(done)
    try:
        pool = get_pool(_services_key(services, run_id, step), lambda: _build_pool(services, run_id, step, plan))
        fields = _run_tries(services, pool, plan, batch, run_id, step, token)
    except Exception as exc:  # the workers could not be set up on this host: the batch failed, say why
        log.exception("mini-batch %s of step %s could not run", index, step)
        failed = batch.get("items") or 1
        fields = {"status": BATCH_FAILED, "tries": 1, "items": failed, "succeeded_items": 0, "failed_items": failed,
                  "error": f"could not start the step's workers: {type(exc).__name__}: {exc}",
                  "traceback": clip(traceback.format_exc())}
        pool = None
    if fields["status"] == "canceled":
        return {**empty, "tries": fields["tries"], "status": "canceled", "error": "the run was canceled"}
    if pool is not None:
        try:
            pool.sync_outputs()
        except Exception as exc:
            log.warning("uploading output_dir files of step %s failed: %s", step, exc)
    standing = store.finish(run_id, step, index, etag, {"index": index, **fields})
    _note(services, run_id, step, _summary_line(index, {**fields, **standing}))
    return result_of({**fields, **standing})


def prs_should_abort(summary: dict[str, Any]) -> str | None:
    """Stop scheduling: a limit that can only grow (error_threshold, allowed_failed_count) is already exceeded."""
    return should_abort(summary)


# -- finish -----------------------------------------------------------------------
def _tally(rows: list[dict[str, Any]], batches: int) -> dict[str, int]:
    done = [r for r in rows if r.get("status") in (BATCH_SUCCEEDED, BATCH_FAILED)]
    failed = [r for r in done if r["status"] == BATCH_FAILED]
    return {"batches": batches, "finished_batches": len(done), "failed_batches": len(failed),
            "succeeded_batches": len(done) - len(failed),
            "retried_batches": sum(1 for r in done if r["status"] == BATCH_SUCCEEDED and int(r.get("tries") or 1) > 1),
            "items": sum(int(r.get("items") or 0) for r in done),
            "succeeded_items": sum(int(r.get("succeeded_items") or 0) for r in done),
            "failed_items": sum(int(r.get("failed_items") or 0) for r in done)}


def _first_failure(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    for row in rows:
        if row.get("status") == BATCH_FAILED:
            try:
                inputs = json.loads(row.get("inputs") or "[]")
            except json.JSONDecodeError:  # clipped: a very large batch
                inputs = []
            return {"mini_batch": int(row["index"]), "error": row.get("error") or "",
                    "traceback": row.get("traceback") or "", "inputs": inputs[:10]}
    return None


def _write_append_row(services: Services, run_id: str, step: str, plan: dict[str, Any],
                      rows: list[dict[str, Any]]) -> None:
    output = plan["output"]
    name = plan["config"].get("append_row_file_name") or DEFAULT_APPEND_ROW_FILE
    sources = [(r["rows_blob"], int(r.get("rows_bytes") or 0)) for r in rows
               if r.get("status") == BATCH_SUCCEEDED and r.get("rows_blob")]
    target = services.container_for(output["datastore"]).get_blob_client(f"{output['path']}/{name}")
    plans.concat_blobs(_container(services), sources, target)


def _cleanup(services: Services, run_id: str, step: str, rows: list[dict[str, Any]]) -> None:
    container = _container(services)
    for row in rows:
        if row.get("rows_blob"):
            try:
                container.delete_blob(row["rows_blob"])
            except ResourceNotFoundError:
                pass
    plans.forget(container, run_id, step)


def prs_finish(services: Services, run_id: str, step: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Apply the failure limits to the recorded batches, write the append_row file, end the step."""
    ctx = _ParallelStep(services, run_id, step)
    key = _services_key(services, run_id, step)
    if ctx.row.get("status") in TERMINAL:
        close_pool(key)
        return _result(step, ctx.row)
    plan = plans.read_plan(_container(services), run_id, step)
    close_pool(key)  # stops this host's workers and uploads their last output_dir files
    if plan is None:
        return ctx._fail(f"ParallelRunStep {step!r} was finished without being prepared", None)
    rows = BatchStore(services.account).rows(run_id, step)
    counts = _tally(rows, int(plan["batches"]))
    all_ran = counts["finished_batches"] == counts["batches"]
    canceled = bool(summary.get("canceled")) or is_cancel_requested(services, run_id, step)
    reason = limit_reason(counts, plan["limits"], all_ran) or summary.get("aborted")
    if reason is None and not all_ran and not canceled:
        reason = (f"only {counts['finished_batches']} of {counts['batches']} mini-batches finished; "
                  "the step ended before the others ran")
    outputs: dict[str, Any] = {}
    output = plan.get("output")
    if output:
        try:
            if plan["config"]["output_action"] == "append_row":
                _write_append_row(services, run_id, step, plan, rows)
            count = len(list_prefix(services.container_for(output["datastore"]), output["path"]))
            outputs[output["data"]] = {"datastore": output["datastore"], "path": output["path"], "count": count}
        except Exception as exc:
            log.exception("writing the output of step %s failed", step)
            reason = reason or f"could not write the step's output: {type(exc).__name__}: {exc}"
    total = plan.get("items") if plan.get("items") is not None else counts["items"]
    progress = {"total": total, "processed": counts["succeeded_items"] + counts["failed_items"],
                "succeeded": counts["succeeded_items"], "failed": counts["failed_items"], **counts}
    _note(services, run_id, step, f"[amlite] {counts['finished_batches']} of {counts['batches']} mini-batches ran: "
          f"{counts['failed_batches']} failed, {counts['retried_batches']} succeeded on a retry; items "
          f"{counts['succeeded_items']} succeeded, {counts['failed_items']} failed"
          + (f"; {reason}" if reason else ""))
    if canceled:
        result = ctx._end(CANCELED, {"outputs": outputs, "progress": progress,
                                     "error": {"message": "canceled while running"}})
    elif reason:
        first = _first_failure(rows)
        message = reason
        if first:
            message += f"; first failure: mini-batch {first['mini_batch']}: {first['error']}"
        result = ctx._end(FAILED, {"outputs": outputs, "progress": progress,
                                   "error": {"message": message, "first_failure": first}})
    else:
        result = ctx._end(FINISHED, {"outputs": outputs, "progress": progress, "is_reused": False})
        if ctx.row.get("status") == FINISHED and ctx.row.get("reuse_key"):
            parts = (ctx.row.get("reuse") or {}).get("parts") or {}
            services.reuse.record(ctx.row["reuse_key"], run_id, step, outputs, parts)
            services.reuse.record_latest(ctx.run["experiment"], step, parts)
    if result.get("status") in TERMINAL:
        _cleanup(services, run_id, step, rows)
    return result


__all__ = ["prs_finish", "prs_prepare", "prs_run_batch", "prs_should_abort"]
