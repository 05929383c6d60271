"""The units of work the orchestrator schedules. Each is idempotent and returns a small dict.

Idempotent because Durable (and any queue) may deliver an activity twice: a
step already terminal returns its recorded result and writes nothing. A step
failure is a result, not an exception, because ``task_all`` fails fast on the
first exception and would orphan the sibling steps.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline_core.engine.planner import plan
from pipeline_core.engine.reuse import changed_parts, fit_manifests, output_manifest, reuse_key, stale_outputs
from pipeline_core.engine.services import Services
from pipeline_core.errors import AmliteError, NotFoundError
from pipeline_core.execution.binding import (
    Location,
    data_folder,
    dataset_identity,
    download_location,
    format_value,
    input_location,
    output_location,
    resolve_token,
)
from pipeline_core.execution.logs import LOGS_CONTAINER, StepLog
from pipeline_core.execution.process import STOPPED_CANCELED, STOPPED_SUPERSEDED, run_process
from pipeline_core.execution.snapshot import (
    SNAPSHOT_CONTAINER,
    cache_root,
    extract_to_cache,
    script_path,
    working_copy,
)
from pipeline_core.execution.step_env import build_step_env
from pipeline_core.execution.step_outputs import upload_attempt
from pipeline_core.execution.step_settings import StepSettings, check_run_duration, step_settings
from pipeline_core.execution.storage_retry import retry_storage
from pipeline_core.runcontext.server import end_run_context, run_context_environment
from pipeline_core.spec_types import DataEntry
from pipeline_core.storage.blobs import fingerprint, list_prefix
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    FINISHED,
    NOT_STARTED,
    QUEUED,
    RUN_ROW,
    RUNNING,
    TERMINAL,
    InvalidTransition,
    step_key,
    utcnow,
)
from pipeline_core.validation import run_time_problems

log = logging.getLogger("amlite.engine")


class StepAttemptFailed(AmliteError):
    """Raised (not returned) when a step with retries left fails, so Durable's RetryOptions run it again."""

# Step-level concurrent I/O (input downloads, output uploads, the log). Separate from the blob
# module's pool because those tasks themselves fan out on that one: sharing could deadlock.
_step_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="amlite-step-io")


def _result(step: str, row: dict[str, Any]) -> dict[str, Any]:
    error = row.get("error") or None
    return {"step": step, "status": row.get("status"), "reused": bool(row.get("is_reused")),
            "error": (error or {}).get("message") if isinstance(error, dict) else error}


# -- run level --------------------------------------------------------------------
def start_run(services: Services, run_id: str) -> dict[str, Any]:
    """Mark the run Running and hand the orchestrator its graph: names and edges only, never data."""
    run = services.runs.get_run(run_id)
    spec = services.load_spec(run["graph_id"])
    if run["status"] in TERMINAL:
        return {"done": True, "status": run["status"], "deps": spec.dependencies(), "continue_on_step_failure": False}
    if run["status"] in (NOT_STARTED, QUEUED):
        from pipeline_core.engine.launch import host_identity

        try:
            services.runs.transition(run_id, RUN_ROW, RUNNING, {"start_time": utcnow(), "host_id": host_identity()})
        except InvalidTransition:
            pass
    continue_on_failure = run.get("continue_on_step_failure")
    if continue_on_failure in (None, ""):
        continue_on_failure = spec.doc.get("continue_on_step_failure", False)
    retry = {s["name"]: s["retry"] for s in spec.steps if s.get("retry")}
    parallel = [s["name"] for s in spec.steps if s.get("type") == "ParallelRunStep"]
    return {"done": False, "deps": spec.dependencies(), "continue_on_step_failure": bool(continue_on_failure),
            "cancel_requested": run["status"] == CANCEL_REQUESTED, "retry": retry, "parallel": parallel}


def skip_steps(services: Services, run_id: str, skipped: dict[str, str]) -> None:
    """Steps that will never run end Canceled with the reason, so nothing is left NotStarted forever."""
    for name, reason in skipped.items():
        try:
            services.runs.transition(run_id, step_key(name), CANCELED,
                                     {"end_time": utcnow(), "error": {"message": f"not run: {reason}"}})
        except InvalidTransition:
            pass


def finish_run(services: Services, run_id: str, outcome: str, failed_steps: list[str],
               errors: dict[str, str] | None = None) -> dict[str, Any]:
    """End the run; a step row left non-terminal (its activity died after its retries) ends with the reason."""
    fields: dict[str, Any] = {"end_time": utcnow()}
    state = services.runs.get_state(run_id)
    if state.run.get("status") == CANCEL_REQUESTED:  # the flag wins even if the event never arrived
        outcome = CANCELED
    for name, row in state.steps.items():
        if row.get("status") not in TERMINAL:
            reason = (errors or {}).get(name)
            try:
                services.runs.transition_from(row, FAILED if reason else CANCELED, {
                    "end_time": utcnow(), "error": {"message": reason or f"the run ended {outcome} first"}})
            except InvalidTransition:
                pass
    if outcome == FAILED:
        state = services.runs.get_state(run_id)
        messages = []
        for name in failed_steps or [n for n, s in state.steps.items() if s.get("status") == FAILED]:
            err = state.steps.get(name, {}).get("error") or {}
            messages.append(f"step {name!r} failed: {err.get('message', 'see its log') if isinstance(err, dict) else err}")
        fields["error"] = {"message": "; ".join(messages) or "a step was canceled", "failed_steps": failed_steps}
        fields["status_detail"] = messages[0] if messages else ""
    try:
        row = services.runs.transition(run_id, RUN_ROW, outcome, fields)
    except InvalidTransition as exc:
        row = exc.row
    return {"run_id": run_id, "status": row.get("status")}


def is_cancel_requested(services: Services, run_id: str, step: str | None = None) -> bool:
    """True when the run, or this one step (fail-fast cancels siblings), has been asked to stop."""
    keys = [RUN_ROW] + ([step_key(step)] if step else [])
    rows = services.runs.runs.query_entities(
        "PartitionKey eq @pk and ( " + " or ".join(f"RowKey eq @k{i}" for i in range(len(keys))) + " )",
        parameters={"pk": run_id, **{f"k{i}": k for i, k in enumerate(keys)}}, select=["status"])
    return any(r.get("status") in (CANCEL_REQUESTED, CANCELED) for r in rows)


def stop_reason(services: Services, run_id: str, step: str, attempt: int) -> str | None:
    """Why a running attempt of ``step`` must stop, or None: one read of the run row and the step row.

    Canceled: the run or the step was asked to stop, or the step was ended without it (the run
    finished first). Superseded: a newer attempt (a redelivered activity) owns the step now.
    """
    rows = services.runs.runs.query_entities(
        "PartitionKey eq @pk and ( RowKey eq @run or RowKey eq @step )",
        parameters={"pk": run_id, "run": RUN_ROW, "step": step_key(step)}, select=["RowKey", "status", "attempt"])
    for row in rows:
        if row.get("status") in (CANCEL_REQUESTED, CANCELED):
            return STOPPED_CANCELED
        if row.get("RowKey") == step_key(step):
            if row.get("status") in TERMINAL:
                return STOPPED_CANCELED
            if int(row.get("attempt") or 0) != attempt:
                return STOPPED_SUPERSEDED
    return None


def cancel_steps(services: Services, run_id: str, steps: list[str]) -> None:
    """Ask running steps to stop (fail-fast after a failure); they end Canceled within a second or two."""
    for name in steps:
        try:
            services.runs.transition(run_id, step_key(name), CANCEL_REQUESTED)
        except InvalidTransition:
            pass


def request_cancel(services: Services, run_id: str) -> dict[str, Any]:
    """Flag the run (running steps notice within a second and stop their processes) and tell its orchestrator."""
    try:
        row = services.runs.transition(run_id, RUN_ROW, CANCEL_REQUESTED)
    except InvalidTransition as exc:
        return {"run_id": run_id, "status": exc.row.get("status")}
    from pipeline_core.engine.orphans import abandoned, end_orphan

    if abandoned(row):  # its host is gone: no orchestrator will ever see the flag, end it now
        end_orphan(services, run_id, CANCELED, "canceled; its host had stopped before the run ended")
        return {"run_id": run_id, "status": CANCELED}
    from pipeline_core.engine.launch import signal_cancel

    signal_cancel(run_id)
    return {"run_id": run_id, "status": row.get("status")}


# -- step level -------------------------------------------------------------------
class _StepRun:
    """One execution of one script step; the long body of ``run_step`` split into its phases."""

    def __init__(self, services: Services, run_id: str, name: str):
        self.services = services
        self.run_id = run_id
        self.name = name
        self.state = services.runs.get_state(run_id)
        self.run = self.state.run
        row = self.state.steps.get(name)
        if row is None:
            raise NotFoundError(f"step {name!r} is not part of run {run_id!r}")
        self.row: dict[str, Any] = row
        self.spec = services.load_spec(self.run["graph_id"])
        self.step = self.spec.step(name)
        self.parameters: dict[str, Any] = self.run.get("parameters") or {}
        self.attempt = int(row.get("attempt") or 0)
        self.reuse_miss: str | None = None  # why a matching earlier run could not be reused

    def refusal(self) -> str | None:
        """Why this step must not run even though its spec was accepted (checked again here: defence in depth)."""
        problems = run_time_problems(self.spec, self.step, self.parameters)
        return ("refused to run: " + "; ".join(problems)) if problems else None

    def upstream_outputs(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for row in self.state.steps.values():
            for data_id, loc in (row.get("outputs") or {}).items():
                found[data_id] = loc
        return found

    def key(self, inputs: dict[str, Location]) -> tuple[str, dict[str, Any]]:
        data = self.spec.data
        symbolic = {d: f"<{d}>" for d in list(data)}
        arguments = [resolve_token(t, self.parameters, {k: Path(v) for k, v in symbolic.items()})
                     for t in self.step["arguments"]]
        params = {k: resolve_token(t, self.parameters, {kk: Path(v) for kk, v in symbolic.items()})
                  for k, t in self.step.get("params", {}).items()}
        identities: dict[str, Any] = {}
        upstream = {row["name"]: row for row in self.state.steps.values()}
        for data_id, loc in inputs.items():
            entry = data[data_id]
            if entry["kind"] in ("pipeline_data", "output"):
                producer = upstream.get(entry.get("producer") or "", {})
                identities[data_id] = {"producer_key": producer.get("reuse_key"), **loc.to_dict()}
            elif entry["kind"] == "dataset":
                identities[data_id] = self._dataset_identity(entry)
            else:
                digest, count = fingerprint(self.services.container_for(loc.datastore), loc.path)
                identities[data_id] = {**loc.to_dict(), "blobs": count, "etags": digest}
        outputs = {d: {"datastore": data[d].get("datastore"), "path": data[d].get("path")} for d in self.step["outputs"]}
        return reuse_key(self.step, arguments, params, identities, outputs)

    def _dataset_identity(self, entry: DataEntry) -> dict[str, Any]:
        """A dataset input's reuse identity (a hook: a ParallelRunStep reuses this listing for its batches)."""
        return dataset_identity(self.services.container_for, entry)

    def try_reuse(self, key: str, parts: dict[str, Any]) -> dict[str, Any] | None:
        if not self.step.get("allow_reuse", True) or self.run.get("regenerate_outputs"):
            return None
        found = self.services.reuse.lookup(key)
        if not found:
            return None
        stale = stale_outputs(self.services.container_for, found)
        if stale:  # the key matches, but what that run wrote is no longer there as written
            log.info("step %s: not reusing run %s: %s", self.name, found["run_id"], stale)
            self.reuse_miss = stale
            self.services.reuse.forget(key)
            return None
        fields = {"end_time": utcnow(), "start_time": utcnow(), "is_reused": True, "reused_run_id": found["run_id"],
                  "reused_step": found["step"], "reuse_key": key, "outputs": found["outputs"],
                  "reuse": {"decision": "reused", "matched": sorted(k for k in parts if k != "version"),
                            "from_run": found["run_id"], "parts": parts}}
        try:
            row = self.services.runs.transition(self.run_id, step_key(self.name), FINISHED, fields)
        except InvalidTransition as exc:
            row = exc.row
        return _result(self.name, row)

    def execute(self) -> dict[str, Any]:
        if self.row.get("status") in TERMINAL:
            return _result(self.name, self.row)
        if self.run.get("status") in (CANCEL_REQUESTED, CANCELED) or self.row.get("status") == CANCEL_REQUESTED:
            skip_steps(self.services, self.run_id, {self.name: "the run was canceled"})
            return {"step": self.name, "status": CANCELED, "reused": False, "error": "the run was canceled"}
        refused = self.refusal()
        if refused:
            return self._fail(refused, None)
        data = self.spec.data
        upstream = self.upstream_outputs()
        try:
            inputs = {d: input_location(data[d], d, self.parameters, upstream) for d in self.step["inputs"]}
            key, parts = self.key(inputs)
        except AmliteError as exc:
            return self._fail(str(exc), None)
        reused = self.try_reuse(key, parts)
        if reused is not None:
            return reused
        # A redelivery: the attempt that marked the step Running died (a failed attempt that Durable
        # retries recorded its end in ``attempt_ended``).
        lost = self.row.get("status") == RUNNING and \
            int(self.row.get("attempt_ended") or 0) < int(self.row.get("attempt") or 0)
        self.attempt = int(self.row.get("attempt") or 0) + 1
        try:
            self.row = retry_storage(f"starting step {self.name!r}", functools.partial(
                self.services.runs.transition_from, self.row, RUNNING,
                {"start_time": utcnow(), "attempt": self.attempt, "reuse_key": key,
                 "reuse": {"decision": "ran", "parts": parts, "changed": self._changed(key, parts)}}),
                step_settings().storage_retry_seconds)
        except InvalidTransition as exc:
            return _result(self.name, exc.row)
        return self._run_script(inputs, key, parts, lost)

    def _changed(self, key: str, parts: dict[str, Any]) -> list[str]:
        if self.reuse_miss:
            return [self.reuse_miss]
        if not self.step.get("allow_reuse", True):
            return ["allow_reuse=False"]
        if self.run.get("regenerate_outputs"):
            return ["regenerate_outputs=True"]
        return changed_parts(self.services.reuse.lookup_latest(self.run["experiment"], self.name), parts)

    def _run_script(self, inputs: dict[str, Location], key: str, parts: dict[str, Any],
                    lost: bool = False) -> dict[str, Any]:
        settings = step_settings()
        patience = settings.storage_retry_seconds
        work = Path(tempfile.mkdtemp(prefix=f"{self.name[:20].replace(' ', '_')}-", dir=_work_root()))
        step_log = StepLog(self.services.account.container(LOGS_CONTAINER), self.run_id, self.name,
                           work / "std_log.txt", retry_seconds=patience, attempt=self.attempt)
        outputs: dict[str, dict[str, Any]] = {}
        env: dict[str, str] = {}
        try:
            if lost:
                step_log.note(f"[amlite] attempt {self.attempt}: the previous attempt of this step did not finish "
                              "(its host was lost); the step runs again and its outputs replace what that "
                              "attempt wrote")
            if settings.problems:
                raise AmliteError("; ".join(settings.problems))
            timeout, limit = self._timeout(settings)
            src = working_copy(self._snapshot_dir(), work / "src")
            paths: dict[str, Path] = {}
            script_path(src, self.step["script_name"], self.name)
            downloads = {d: _step_pool.submit(retry_storage, f"downloading input {d!r}", functools.partial(
                download_location, self.services.container_for, loc, data_folder(work, "inputs", d)),
                patience) for d, loc in inputs.items()}
            for d, future in downloads.items():
                paths[d] = future.result()
            out_locations = {d: output_location(self.spec.data[d], d, self.run_id, self.name)
                             for d in self.step["outputs"]}
            for d in out_locations:
                paths[d] = data_folder(work, "outputs", d)
                paths[d].mkdir(parents=True, exist_ok=True)
            # Resolved (and the containers created) now, so the uploads after the script need nothing else.
            out_containers = {d: retry_storage(f"opening the datastore of output {d!r}", functools.partial(
                self.services.container_for, loc.datastore), patience) for d, loc in out_locations.items()}
            argv = [sys.executable, "-u", self.step["script_name"],
                    *[resolve_token(t, self.parameters, paths) for t in self.step["arguments"]]]
            env = self._environment(paths)
            step_log.note(f"[amlite] step {self.name!r} of run {self.run_id}: {' '.join(argv[2:])}")
            result = run_process(argv, src, env, step_log, timeout=timeout, grace=settings.stop_grace_seconds,
                                 should_stop=lambda: stop_reason(self.services, self.run_id, self.name, self.attempt))
            if result.stopped == STOPPED_SUPERSEDED:  # the newer attempt uploads and records; this one waits for it
                step_log.abandon()
                return self._await_newer_attempt(timeout)
            # Upload whatever the script wrote, even on failure (nothing a step produced is lost),
            # at the same time as the log.
            written: dict[str, dict[str, str]] = {d: {} for d in out_locations}
            uploads: dict[str, Any] = {d: _step_pool.submit(retry_storage, f"uploading output {d!r}", functools.partial(
                upload_attempt, out_containers[d], paths[d], loc.path, self.run_id, self.name, self.attempt,
                written[d]), patience) for d, loc in out_locations.items()}
            log_closed = _step_pool.submit(step_log.close)
            for d, upload in uploads.items():
                outputs[d] = {**out_locations[d].to_dict(), "count": upload.result()}
            log_closed.result()
            if result.canceled:
                return self._end(CANCELED, {"outputs": outputs, "exit_code": result.exit_code,
                                            "error": {"message": "canceled while running"}})
            if result.timed_out:
                message = (f"{self.step['script_name']} timed out after {timeout:g} s ({limit}); "
                           "the step's processes were stopped")
                self._raise_if_retries_left(message)
                return self._fail(message, outputs, exit_code=result.exit_code, timed_out=True)
            if result.exit_code != 0:
                tail = step_log.stderr_text()
                self._raise_if_retries_left(f"{self.step['script_name']} exited with code {result.exit_code}")
                return self._fail(f"{self.step['script_name']} exited with code {result.exit_code}"
                                  + (f"; last lines of stderr:\n{tail}" if tail else ""), outputs,
                                  exit_code=result.exit_code, stderr_tail=tail)
            # Reuse bookkeeping goes alongside the final transition; neither needs the other.
            recorded = [_step_pool.submit(retry_storage, "recording the step for reuse", functools.partial(
                            self._record_reuse, key, outputs, parts, out_locations, written), patience),
                        _step_pool.submit(retry_storage, "recording the step for reuse", functools.partial(
                            self.services.reuse.record_latest, self.run["experiment"], self.name, parts), patience)]
            finished = self._end(FINISHED, {"outputs": outputs, "exit_code": 0, "is_reused": False})
            for bookkeeping in recorded:
                bookkeeping.result()
            return finished
        except StepAttemptFailed:
            raise
        except Exception as exc:  # an infrastructure problem: the step fails with the reason, the run goes on
            log.exception("step %s of run %s crashed", self.name, self.run_id)
            try:
                if not step_log.closed:
                    step_log.note(f"[amlite] step failed before or after its script: {exc}")
                    step_log.close()
            except Exception:
                log.exception("could not save the log of step %s", self.name)
            self._raise_if_retries_left(f"{type(exc).__name__}: {exc}")
            return self._fail(f"{type(exc).__name__}: {exc}", outputs)
        finally:
            end_run_context(env)  # the step's run context token dies with the attempt
            shutil.rmtree(work, ignore_errors=True)

    def _record_reuse(self, key: str, outputs: dict[str, Any], parts: dict[str, Any],
                      locations: dict[str, Location], written: dict[str, dict[str, str]]) -> None:
        """Record the outputs for reuse with what each holds now (one listing each), so reuse can verify them."""
        manifests = {d: output_manifest(list_prefix(self.services.container_for(loc.datastore), loc.path),
                                        loc.path, written.get(d)) for d, loc in locations.items()}
        self.services.reuse.record(key, self.run_id, self.name, outputs, parts, fit_manifests(manifests))

    def _timeout(self, settings: StepSettings) -> tuple[float, str]:
        """The step's run-time limit and where it comes from: its runconfig, capped by the app's limit."""
        ceiling = settings.timeout_seconds
        try:
            own = check_run_duration(self.step.get("max_run_duration_seconds"),
                                     f"step {self.name!r}: max_run_duration_seconds")
        except ValueError as exc:
            raise AmliteError(str(exc)) from None
        if own is None:
            return ceiling, f"the app's limit AMLITE_STEP_TIMEOUT_SECONDS={ceiling:g}"
        if own > ceiling:
            return ceiling, (f"max_run_duration_seconds={own} is above the app's limit "
                             f"AMLITE_STEP_TIMEOUT_SECONDS={ceiling:g}, which applies")
        return float(own), f"max_run_duration_seconds={own}"

    def _await_newer_attempt(self, timeout: float) -> dict[str, Any]:
        """This attempt was superseded by a redelivery: answer with the step's result once that attempt ends.

        A stale attempt never writes a result of its own (the orchestrator keeps the first answer it gets).
        """
        deadline = time.monotonic() + timeout + step_settings().storage_retry_seconds
        while time.monotonic() < deadline:
            try:
                row = self.services.runs.get_step(self.run_id, self.name)
            except Exception as exc:  # storage out: keep waiting
                log.debug("waiting for the newer attempt of step %s: %s", self.name, exc)
            else:
                if row.get("status") in TERMINAL:
                    return _result(self.name, row)
            time.sleep(2.0)
        raise AmliteError(f"step {self.name!r}: attempt {self.attempt} was superseded by a newer attempt that "
                          "did not finish in time")

    def _raise_if_retries_left(self, message: str) -> None:
        attempts = int((self.step.get("retry") or {}).get("max_attempts", 1))
        attempt = int(self.row.get("attempt") or 1)
        if attempt < attempts:
            retry_storage(f"recording attempt {attempt} of step {self.name!r}", functools.partial(
                self.services.runs.update, self.run_id, step_key(self.name),
                {"error": {"message": f"attempt {attempt} of {attempts} failed: {message}"},
                 "attempt_ended": attempt}),
                step_settings().storage_retry_seconds)
            raise StepAttemptFailed(f"step {self.name!r} attempt {attempt} of {attempts} failed: {message}")

    def _snapshot_dir(self) -> Path:
        snapshot = self.step.get("snapshot")
        if not snapshot:
            raise AmliteError(f"step {self.name!r} has no snapshot (was its script found at submit?)")
        cached = cache_root() / "snapshots" / snapshot
        if cached.is_dir():
            return cached
        data = self.services.account.container(SNAPSHOT_CONTAINER).download_blob(f"{snapshot}.zip").readall()
        return extract_to_cache(snapshot, data)

    def _environment(self, paths: dict[str, Path]) -> dict[str, str]:
        """The step's variables (AML's names) on top of what ``build_step_env`` allows; no host secret."""
        variables: dict[str, str] = {}
        for name, value in self.parameters.items():
            variables[f"AML_PARAMETER_{name}"] = format_value(value)
        for key, token in self.step.get("params", {}).items():
            variables[f"AML_PARAMETER_{key}"] = resolve_token(token, self.parameters, paths)
        for data_id, path in paths.items():
            variables[f"AZUREML_DATAREFERENCE_{data_id.replace(':', '_')}"] = str(path)
        variables.update(run_context_environment(self.services, self.run_id, self.name))  # Run.get_context()
        return build_step_env(self.run_id, self.name, variables)

    def _end(self, status: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The step's result, written through a storage outage (retried for AMLITE_STEP_STORAGE_RETRY_SECONDS)."""
        fields = {"end_time": utcnow(), **fields}
        try:
            self.row = retry_storage(f"recording the end of step {self.name!r}", functools.partial(
                self.services.runs.transition_from, self.row, status, fields, guard=self._owns),
                step_settings().storage_retry_seconds)
        except InvalidTransition as exc:
            self.row = exc.row
            if self.row.get("status") not in TERMINAL and not self._owns(self.row):
                return self._await_newer_attempt(step_settings().timeout_seconds)  # its result, not ours
        return _result(self.name, self.row)

    def _owns(self, row: dict[str, Any]) -> bool:
        """This attempt may still write the step's result: no newer attempt (a redelivery) took the step over."""
        return int(row.get("attempt") or 0) == self.attempt

    def _fail(self, message: str, outputs: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {"error": {"message": message, **extra}}
        if outputs:
            fields["outputs"] = outputs
        return self._end(FAILED, fields)


def _work_root() -> Path:
    root = cache_root() / "work"
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_step(services: Services, run_id: str, step: str) -> dict[str, Any]:
    """Run (or reuse) one step; a redelivery for a terminal step returns the recorded result."""
    started = time.perf_counter()
    runner = _StepRun(services, run_id, step)
    if runner.step.get("type") == "ParallelRunStep":  # mini-batches over worker processes, not one script run
        from pipeline_core.parallel.local import run_parallel_step

        result = run_parallel_step(services, run_id, step)
    else:
        result = runner.execute()
    log.debug("step %s of %s took %.3f s", step, run_id, time.perf_counter() - started)
    return result


def next_moves(deps: dict[str, list[str]], results: dict[str, str], in_flight: set[str],
               continue_on_step_failure: bool, cancel_requested: bool) -> Any:
    """Re-exported planner entry so the orchestrator imports one engine module."""
    return plan(deps, results, in_flight, continue_on_step_failure, cancel_requested)
