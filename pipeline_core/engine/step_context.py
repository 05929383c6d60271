"""``StepContext``: what a step executor needs to run one attempt of one step, whatever its kind.

Why a public context: every step kind shares the same bookkeeping around its own
work -- the spec entry and the run's parameters, where the inputs are, the reuse
key and the reuse check, the state transitions (a new attempt, its end, a failure
that Durable retries), the step log, the snapshot's working copy, the allow-listed
environment with its ``Run.get_context()`` token, cancel and supersede checks, and
outputs uploaded tagged per attempt. Written once here, a kind's executor
(``engine/step_kinds.py``) is only its own work; ``PythonScriptStep``
(``engine/script_step.py``) and ``ParallelRunStep`` (``parallel/activities.py``)
both use it.

An ACTIVITY kind gets its context from ``run_step`` through ``StepContext.run``:

1. ``early_result()``: a step already terminal answers its recorded result (a
   redelivered activity writes nothing); a canceled run ends the step Canceled;
2. ``refusal()``: the spec is checked again (defence in depth);
3. ``input_locations()`` and ``reuse_key(inputs)``; ``try_reuse(key, parts)``;
4. ``begin(key, parts)``: the row goes Running with a new attempt number;
5. a work folder and the step log (``work``, ``log``) exist, then the executor
   runs. An exception out of it is an infrastructure failure: the step fails with
   the reason (or raises ``StepAttemptFailed`` while ``set_retry`` attempts are
   left), the log is saved; the work folder and the run-context token go in any case.

The executor then uses ``output_folders()``, ``download_inputs()``,
``environment(paths)``, ``stop_reason()``, ``upload_outputs()`` and ends with
``finish()``, ``fail(...)`` or ``end(status, fields)``. Every write to storage is
retried through an outage (``AMLITE_STEP_STORAGE_RETRY_SECONDS``).
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from pipeline_core.engine.host_folders import host_folder
from pipeline_core.engine.reuse import changed_parts, fit_manifests, output_manifest, reuse_key, stale_outputs
from pipeline_core.engine.services import Services
from pipeline_core.engine.step_kinds import find_step_kind
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
    resolved_dataset,
)
from pipeline_core.execution.logs import LOGS_CONTAINER, StepLog
from pipeline_core.execution.process import STOPPED_CANCELED, STOPPED_SUPERSEDED
from pipeline_core.execution.snapshot import SNAPSHOT_CONTAINER, cache_root, extract_to_cache, working_copy
from pipeline_core.execution.step_env import build_step_env
from pipeline_core.execution.step_outputs import attempt_metadata, stale_blobs, upload_attempt
from pipeline_core.execution.step_settings import StepSettings, check_run_duration, step_settings
from pipeline_core.execution.storage_retry import retry_storage
from pipeline_core.runcontext.server import end_run_context, run_context_environment
from pipeline_core.spec_types import DataEntry, Token
from pipeline_core.storage.blobs import fingerprint, list_prefix
from pipeline_core.storage.run_store import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    FINISHED,
    RUN_ROW,
    RUNNING,
    TERMINAL,
    InvalidTransition,
    step_key,
    utcnow,
)
from pipeline_core.storage.side_by_side import beside
from pipeline_core.validation import run_time_problems

log = logging.getLogger("amlite.engine")

# Step-level concurrent I/O (input downloads, output uploads, the log). Separate from the blob
# module's pool because those tasks themselves fan out on that one: sharing could deadlock.
_step_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="amlite-step-io")


#: The name of a host's folder under the cache's ``work`` folder, before the host's identity.
WORK_HOST_PREFIX = "host-"


class StepAttemptFailed(AmliteError):
    """Raised (not returned) when a step with retries left fails, so its retry orchestration runs it again."""


def step_result(step: str, row: dict[str, Any]) -> dict[str, Any]:
    """The small dict a step's activity (or sub-orchestration) answers the orchestrator with."""
    error = row.get("error") or None
    return {"step": step, "status": row.get("status"), "reused": bool(row.get("is_reused")),
            "error": (error or {}).get("message") if isinstance(error, dict) else error}


def work_root() -> Path:
    """Where attempts make their work folders: this host's folder under the cache's ``work``, so the next host
    removes what a killed one left (``engine/host_folders.py``)."""
    return host_folder(cache_root() / "work", WORK_HOST_PREFIX)


def is_cancel_requested(services: Services, run_id: str, step: str | None = None) -> bool:
    """True when the run, or this one step (fail-fast cancels siblings), has been asked to stop."""
    keys = [RUN_ROW] + ([step_key(step)] if step else [])
    rows = services.runs.runs.query_entities(
        "PartitionKey eq @pk and ( " + " or ".join(f"RowKey eq @k{i}" for i in range(len(keys))) + " )",
        parameters={"pk": run_id, **{f"k{i}": k for i, k in enumerate(keys)}}, select=["status"])
    return any(r.get("status") in (CANCEL_REQUESTED, CANCELED) for r in rows)


def stop_reason(services: Services, run_id: str, step: str, attempt: int, child: str | None = None) -> str | None:
    """Why a running attempt of ``step`` (or of its ``child`` run) must stop, or None: one read of the run row,
    the step row (and the child's row).

    Canceled: the run or the step (or the child) was asked to stop, or the attempt's own row was ended
    without it (the run finished first; a policy ended the child). Superseded: a newer attempt (a redelivered
    activity) owns that row now.
    """
    own = step_key(child if child is not None else step)
    keys = [RUN_ROW, step_key(step), *([own] if child is not None else [])]
    rows = services.runs.runs.query_entities(
        "PartitionKey eq @pk and ( " + " or ".join(f"RowKey eq @k{i}" for i in range(len(keys))) + " )",
        parameters={"pk": run_id, **{f"k{i}": k for i, k in enumerate(keys)}}, select=["RowKey", "status", "attempt"])
    for row in rows:
        if row.get("status") in (CANCEL_REQUESTED, CANCELED):
            return STOPPED_CANCELED
        if row.get("RowKey") == own:
            if row.get("status") in TERMINAL:
                return STOPPED_CANCELED
            if int(row.get("attempt") or 0) != attempt:
                return STOPPED_SUPERSEDED
    return None


class StepContext:
    """One attempt of one step: its spec entry, parameters, rows, and the shared phases around its work.

    ``state`` holds the run row, this step's row and the rows of the steps that produce its inputs
    (not the run's other steps: read ``services.runs.get_state(run_id)`` for those).

    Attributes an executor reads: ``services``, ``run_id``, ``name``, ``run`` (the run row),
    ``row`` (the step row, kept current by the transitions), ``spec``, ``step`` (the spec entry),
    ``parameters`` (the run's resolved pipeline parameters), ``attempt``; after ``begin``:
    ``inputs`` (data id -> ``Location``), ``key``/``parts`` (the reuse key and its parts),
    ``lost_attempt``; inside ``run``: ``work`` (a private folder) and ``log`` (the step log).
    Subclasses may refine ``reuse_key`` and ``dataset_identity`` (ParallelRunStep does).
    """

    def __init__(self, services: Services, run_id: str, name: str):
        self.services = services
        self.run_id = run_id
        self.name = name
        # The run row and this step's row, then its producers' rows: never the whole run (a step of a
        # 100-wide fan-out would read 100 rows it does not need).
        self.state = services.runs.get_state(run_id, steps=[name])
        self.run = self.state.run
        row = self.state.steps.get(name)
        if row is None:
            raise NotFoundError(f"step {name!r} is not part of run {run_id!r}")
        self.row: dict[str, Any] = row
        self.spec = services.load_spec(self.run["graph_id"])
        self.step = self.spec.step(name)
        producers = self._producers()
        if producers is None or producers:
            wider = services.runs.get_state(run_id, steps=None if producers is None else [name, *producers])
            self.state, self.run, self.row = wider, wider.run, wider.steps.get(name, row)
        self.parameters: dict[str, Any] = self.run.get("parameters") or {}
        self.attempt = int(row.get("attempt") or 0)
        self.inputs: dict[str, Location] = {}
        self.key = ""
        self.parts: dict[str, Any] = {}
        self.lost_attempt = False
        self.outputs: dict[str, dict[str, Any]] = {}  # what upload_outputs recorded (kept on a failure too)
        self._work: Path | None = None
        self._log: StepLog | None = None
        self._envs: list[dict[str, str]] = []
        self._out_locations: dict[str, Location] = {}
        self._out_containers: dict[str, Any] = {}
        self._out_paths: dict[str, Path] = {}
        self._written: dict[str, dict[str, str]] = {}
        self._reuse_miss: str | None = None  # why a matching earlier run could not be reused
        self._latest: Future[dict[str, Any] | None] | None = None  # the step's last recorded parts, being read

    def _producers(self) -> set[str] | None:
        """The steps whose rows this step reads (its inputs' producers); None when one is not named."""
        producers: set[str] = set()
        for data_id in self.step.get("inputs") or []:
            entry = self.spec.data.get(data_id)
            if entry is not None and entry.get("kind") in ("pipeline_data", "output"):
                producer = entry.get("producer")
                if not producer:
                    return None
                producers.add(producer)
        return producers

    # -- the whole attempt, for ACTIVITY kinds ------------------------------------------
    def run_with(self, executor: Callable[[StepContext], dict[str, Any]]) -> dict[str, Any]:
        """The shared preamble, then ``executor(self)`` in a work folder with the step log open (see the module doc)."""
        early = self.early_result()
        if early is not None:
            return early
        refused = self.refusal()
        if refused:
            return self.fail(refused)
        try:
            inputs = self.input_locations()
            key, parts = self.reuse_key(inputs)
        except AmliteError as exc:
            return self.fail(str(exc))
        reused = self.try_reuse(key, parts)
        if reused is not None:
            return reused
        other = self.begin(inputs, key, parts)
        if other is not None:
            return other
        settings = step_settings()
        self._work = Path(tempfile.mkdtemp(prefix=f"{self.name[:20].replace(' ', '_')}-", dir=work_root()))
        self._log = StepLog(self.services.account.container(LOGS_CONTAINER), self.run_id, self.name,
                            self._work / "std_log.txt", retry_seconds=settings.storage_retry_seconds,
                            attempt=self.attempt)
        try:
            if self.lost_attempt:
                self._log.note(f"[amlite] attempt {self.attempt}: the previous attempt of this step did not finish "
                               "(its host was lost); the step runs again and its outputs replace what that "
                               "attempt wrote")
            if settings.problems:
                raise AmliteError("; ".join(settings.problems))
            return executor(self)
        except StepAttemptFailed:
            raise
        except Exception as exc:  # an infrastructure problem: the step fails with the reason, the run goes on
            log.exception("step %s of run %s crashed", self.name, self.run_id)
            try:
                if not self._log.closed:
                    self._log.note(f"[amlite] step failed before or after its work: {exc}")
                    self._log.close()
            except Exception:
                log.exception("could not save the log of step %s", self.name)
            self.raise_if_retries_left(f"{type(exc).__name__}: {exc}")
            return self.fail(f"{type(exc).__name__}: {exc}", self.outputs)
        finally:
            for env in self._envs:
                end_run_context(env)  # the step's run context token dies with the attempt
            shutil.rmtree(self._work, ignore_errors=True)

    @property
    def work(self) -> Path:
        """This attempt's private folder (removed when the attempt ends)."""
        if self._work is None:
            raise AmliteError(f"step {self.name!r}: the work folder exists only inside StepContext.run_with")
        return self._work

    @property
    def log(self) -> StepLog:
        """The step's log (``std_log.txt``): ``note`` lines, process output, uploaded as it grows."""
        if self._log is None:
            raise AmliteError(f"step {self.name!r}: the step log exists only inside StepContext.run_with")
        return self._log

    # -- before the attempt -----------------------------------------------------------
    def result(self, row: dict[str, Any] | None = None) -> dict[str, Any]:
        return step_result(self.name, self.row if row is None else row)

    def early_result(self) -> dict[str, Any] | None:
        """The answer without running: the recorded result of a terminal step, or Canceled for a canceled run."""
        if self.row.get("status") in TERMINAL:
            return self.result()
        if self.run.get("status") in (CANCEL_REQUESTED, CANCELED) or self.row.get("status") == CANCEL_REQUESTED:
            try:
                self.services.runs.transition(self.run_id, step_key(self.name), CANCELED,
                                              {"end_time": utcnow(), "error": {"message": "not run: the run was canceled"}})
            except InvalidTransition:
                pass
            return {"step": self.name, "status": CANCELED, "reused": False, "error": "the run was canceled"}
        return None

    def refusal(self) -> str | None:
        """Why this step must not run even though its spec was accepted (checked again here: defence in depth)."""
        problems = run_time_problems(self.spec, self.step, self.parameters)
        return ("refused to run: " + "; ".join(problems)) if problems else None

    def upstream_outputs(self) -> dict[str, dict[str, Any]]:
        """Data id -> where the step that produced it wrote it in this run."""
        found: dict[str, dict[str, Any]] = {}
        for row in self.state.steps.values():
            for data_id, loc in (row.get("outputs") or {}).items():
                found[data_id] = loc
        return found

    def input_locations(self) -> dict[str, Location]:
        """Where each of the step's inputs is (datastore + path), parameters and upstream outputs resolved."""
        data, upstream = self.spec.data, self.upstream_outputs()
        return {d: input_location(data[d], d, self.parameters, upstream) for d in self.step["inputs"]}

    def reuse_key(self, inputs: dict[str, Location]) -> tuple[str, dict[str, Any]]:
        """The step's reuse key and its parts: spec entry, resolved arguments/params, input identities, outputs."""
        data = self.spec.data
        symbolic = {d: Path(f"<{d}>") for d in list(data)}
        arguments = [resolve_token(t, self.parameters, symbolic) for t in self.step["arguments"]]
        params = {k: resolve_token(t, self.parameters, symbolic) for k, t in self.step.get("params", {}).items()}
        kind = find_step_kind(self.step.get("type"))
        for field in kind.reuse_fields if kind is not None else ():  # the kind's own settings, when set
            if field not in self.step:
                continue
            params[f"{self.step['type']}.{field}"] = json.dumps(self._with_parameters(self.step.get(field)), sort_keys=True)
        identities: dict[str, Any] = {}
        upstream = {row["name"]: row for row in self.state.steps.values()}
        for data_id, loc in inputs.items():
            entry = data[data_id]
            if entry["kind"] in ("pipeline_data", "output"):
                producer = upstream.get(entry.get("producer") or "", {})
                identities[data_id] = {"producer_key": producer.get("reuse_key"), **loc.to_dict()}
            elif entry["kind"] == "dataset":
                identities[data_id] = self.dataset_identity(resolved_dataset(entry, self.parameters))
            else:
                digest, count = fingerprint(self.services.container_for(loc.datastore), loc.path)
                identities[data_id] = {**loc.to_dict(), "blobs": count, "etags": digest}
        if kind is not None and kind.identity is not None:  # what the kind reads beyond its inputs (a database)
            identities[f"{self.step['type']}.source"] = kind.source_identity(self)
        outputs = {d: {"datastore": data[d].get("datastore"), "path": data[d].get("path")} for d in self.step["outputs"]}
        return reuse_key(self.step, arguments, params, identities, outputs)

    def _with_parameters(self, value: Any) -> Any:
        """``value`` with each parameter or literal token (``$AML_PARAMETER_x`` inside) paired with its resolved text."""
        if isinstance(value, dict):
            if len(value) == 1 and ("param" in value or "lit" in value):
                try:
                    return {**value, "value": resolve_token(cast(Token, value), self.parameters, {})}
                except (KeyError, AmliteError):  # a parameter the run lacks: refused elsewhere
                    return value
            return {k: self._with_parameters(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._with_parameters(v) for v in value]
        return value

    def dataset_identity(self, entry: DataEntry) -> dict[str, Any]:
        """A dataset input's reuse identity (a hook: a ParallelRunStep reuses this listing for its batches)."""
        return dataset_identity(self.services.container_for, entry)

    def try_reuse(self, key: str, parts: dict[str, Any]) -> dict[str, Any] | None:
        """End the step Finished with an earlier run's outputs when the key matches and they are intact; else None."""
        if not self.step.get("allow_reuse", True) or self.run.get("regenerate_outputs"):
            return None
        # What the last run of this step was made of, read beside the lookup: a step that then runs says
        # what changed (``changed``) without a second round trip before it starts.
        self._latest = beside(self.services.reuse.lookup_latest, self.run["experiment"], self.name)
        found = self.services.reuse.lookup(key)
        if not found:
            return None
        stale = stale_outputs(self.services.container_for, found)
        if stale:  # the key matches, but what that run wrote is no longer there as written
            log.info("step %s: not reusing run %s: %s", self.name, found["run_id"], stale)
            self._reuse_miss = stale
            self.services.reuse.forget(key)
            return None
        fields = {"end_time": utcnow(), "start_time": utcnow(), "is_reused": True, "reused_run_id": found["run_id"],
                  "reused_step": found["step"], "reuse_key": key, "outputs": found["outputs"],
                  "reuse": {"decision": "reused", "matched": sorted(k for k in parts if k != "version"),
                            "from_run": found["run_id"], "parts": parts}}
        try:  # from the row this context read (its etag): one round trip unless it changed since
            row = self.services.runs.transition_from(self.row, FINISHED, fields)
        except InvalidTransition as exc:
            row = exc.row
        return self.result(row)

    def changed(self, parts: dict[str, Any]) -> list[str]:
        """Why the step runs instead of being reused (``amlite show``, the run view)."""
        if self._reuse_miss:
            return [self._reuse_miss]
        if not self.step.get("allow_reuse", True):
            return ["allow_reuse=False"]
        if self.run.get("regenerate_outputs"):
            return ["regenerate_outputs=True"]
        latest = self._latest.result() if self._latest is not None else \
            self.services.reuse.lookup_latest(self.run["experiment"], self.name)
        return changed_parts(latest, parts)

    def begin(self, inputs: dict[str, Location], key: str, parts: dict[str, Any]) -> dict[str, Any] | None:
        """Mark the step Running as a new attempt; None when this attempt owns it, else the step's result as it is."""
        # A redelivery: the attempt that marked the step Running died (a failed attempt that is
        # retried recorded its end in ``attempt_ended``).
        self.lost_attempt = self.row.get("status") == RUNNING and \
            int(self.row.get("attempt_ended") or 0) < int(self.row.get("attempt") or 0)
        self.attempt = int(self.row.get("attempt") or 0) + 1
        self.inputs, self.key, self.parts = inputs, key, parts
        try:
            self.row = retry_storage(f"starting step {self.name!r}", functools.partial(
                self.services.runs.transition_from, self.row, RUNNING,
                {"start_time": utcnow(), "attempt": self.attempt, "reuse_key": key,
                 "reuse": {"decision": "ran", "parts": parts, "changed": self.changed(parts)}}),
                step_settings().storage_retry_seconds)
        except InvalidTransition as exc:
            return self.result(exc.row)
        return None

    # -- during the attempt -----------------------------------------------------------
    def timeout(self, settings: StepSettings | None = None) -> tuple[float, str]:
        """The step's run-time limit and where it comes from: its runconfig, capped by the app's limit."""
        ceiling = (settings or step_settings()).timeout_seconds
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

    def snapshot_dir(self) -> Path:
        """The step's snapshot of ``source_directory``, extracted once per host into the cache (read-only)."""
        snapshot = self.step.get("snapshot")
        if not snapshot:
            raise AmliteError(f"step {self.name!r} has no snapshot (was its script found at submit?)")
        cached = cache_root() / "snapshots" / snapshot
        if cached.is_dir():
            return cached
        data = self.services.account.container(SNAPSHOT_CONTAINER).download_blob(f"{snapshot}.zip").readall()
        return extract_to_cache(snapshot, data)

    def working_copy(self, dest: Path | None = None) -> Path:
        """A writable copy of the snapshot (``work/src`` by default), the step's working directory."""
        return working_copy(self.snapshot_dir(), dest or self.work / "src")

    def download_inputs(self, inputs: dict[str, Location] | None = None, root: Path | None = None) -> dict[str, Path]:
        """Download the inputs (all at once, each retried through an outage) under ``root``; data id -> folder."""
        patience = step_settings().storage_retry_seconds
        base = root or self.work
        downloads = {d: _step_pool.submit(retry_storage, f"downloading input {d!r}", functools.partial(
            download_location, self.services.container_for, loc, data_folder(base, "inputs", d)), patience)
            for d, loc in (self.inputs if inputs is None else inputs).items()}
        return {d: future.result() for d, future in downloads.items()}

    def output_location(self, data_id: str) -> Location:
        """Where output ``data_id`` of this step lands in storage (its datastore and path)."""
        return output_location(self.spec.data[data_id], data_id, self.run_id, self.name)

    def output_folders(self) -> dict[str, Path]:
        """A local folder per output to write into; ``upload_outputs`` sends what they hold."""
        patience = step_settings().storage_retry_seconds
        for d in self.step["outputs"]:
            loc = self._out_locations[d] = self.output_location(d)
            folder = self._out_paths[d] = data_folder(self.work, "outputs", d)
            folder.mkdir(parents=True, exist_ok=True)
            # Resolved (and the containers created) now, so the uploads after the work need nothing else.
            self._out_containers[d] = retry_storage(f"opening the datastore of output {d!r}", functools.partial(
                self.services.container_for, loc.datastore), patience)
        return dict(self._out_paths)

    def environment(self, paths: dict[str, Path]) -> dict[str, str]:
        """The step's variables (AML's names, ``Run.get_context()``) on top of what ``build_step_env`` allows.

        No host secret gets in. The run-context token it holds is ended with the attempt
        (by ``run_with``; a caller outside it ends it with ``end_run_context(env)``).
        """
        variables: dict[str, str] = {}
        for name, value in self.parameters.items():
            variables[f"AML_PARAMETER_{name}"] = format_value(value)
        for key, token in self.step.get("params", {}).items():
            variables[f"AML_PARAMETER_{key}"] = resolve_token(token, self.parameters, paths)
        names = self.step.get("input_names") or {}
        for data_id, path in paths.items():
            variables[f"AZUREML_DATAREFERENCE_{names.get(data_id, data_id).replace(':', '_')}"] = str(path)
        variables.update(run_context_environment(self.services, self.run_id, self.name))  # Run.get_context()
        env = build_step_env(self.run_id, self.name, variables)
        self._envs.append(env)
        return env

    def resolve(self, token: Token, paths: dict[str, Path]) -> str:
        """One argument token of the spec as text: a literal, a parameter's value, or a data folder."""
        return resolve_token(token, self.parameters, paths)

    def stop_reason(self) -> str | None:
        """``canceled`` or ``superseded`` when this attempt must stop now (one storage read), else None."""
        return stop_reason(self.services, self.run_id, self.name, self.attempt)

    def cancel_requested(self) -> bool:
        return is_cancel_requested(self.services, self.run_id, self.name)

    def upload_outputs(self) -> dict[str, dict[str, Any]]:
        """Upload what the output folders hold, tagged with this attempt, while the log is closed and saved.

        Done even when the work failed (nothing a step produced is lost). Returns (and keeps in
        ``outputs``) data id -> {datastore, path, count}.
        """
        patience = step_settings().storage_retry_seconds
        self._written = {d: {} for d in self._out_locations}
        uploads = {d: _step_pool.submit(retry_storage, f"uploading output {d!r}", functools.partial(
            upload_attempt, self._out_containers[d], self._out_paths[d], loc.path, self.run_id, self.name,
            self.attempt, self._written[d]), patience) for d, loc in self._out_locations.items()}
        log_closed = _step_pool.submit(self.log.close) if self._log is not None else None
        for d, upload in uploads.items():
            self.outputs[d] = {**self._out_locations[d].to_dict(), "count": upload.result()}
        if log_closed is not None:
            log_closed.result()
        return dict(self.outputs)

    def output_metadata(self) -> dict[str, str]:
        """The blob metadata that marks a blob as this attempt's output (for an executor writing blobs itself)."""
        return attempt_metadata(self.run_id, self.name, self.attempt)

    def record_outputs(self, counts: dict[str, int]) -> dict[str, dict[str, Any]]:
        """Outputs the executor wrote to storage itself (a server-side copy, an export), not through
        ``output_folders``: recorded as ``upload_outputs`` records its uploads, with the log closed.

        Why: a kind that moves data storage-side must not pull it through the worker to upload it.
        Its blobs carry ``output_metadata()``; what an earlier attempt of the step left under an
        output is deleted here, as ``upload_outputs`` does. ``counts``: data id -> blobs written.
        """
        patience = step_settings().storage_retry_seconds
        for d in self.step["outputs"]:
            loc = self._out_locations[d] = self.output_location(d)
            container = self._out_containers[d] = retry_storage(
                f"opening the datastore of output {d!r}", functools.partial(self.services.container_for, loc.datastore),
                patience)
            for name in stale_blobs(container, loc.path, self.run_id, self.name, self.attempt):
                container.delete_blob(name)
            self.outputs[d] = {**loc.to_dict(), "count": int(counts.get(d, 0))}
        if self._log is not None and not self._log.closed:
            self._log.close()
        return dict(self.outputs)

    def output_is_file(self, data_id: str, file_name: str) -> None:
        """Record uploaded output ``data_id`` as the one file ``file_name`` it holds: its path names the file.

        For AML's file outputs (an AutoMLStep's model and metrics): ``path_on_datastore`` is the file, a
        later step given the output gets the file's path, and reuse checks that file. Call after
        ``upload_outputs``.
        """
        loc = self._out_locations[data_id]
        path = f"{loc.path.rstrip('/')}/{file_name}"
        self._out_locations[data_id] = Location(loc.datastore, path)
        if data_id in self.outputs:
            self.outputs[data_id] = {**self.outputs[data_id], "path": path}

    # -- the end ----------------------------------------------------------------------
    def finish(self, **fields: Any) -> dict[str, Any]:
        """End the step Finished with its uploaded outputs, recorded for reuse (with each output's manifest)."""
        patience = step_settings().storage_retry_seconds
        outputs = dict(self.outputs)
        # Reuse bookkeeping goes alongside the final transition; neither needs the other.
        recorded = [_step_pool.submit(retry_storage, "recording the step for reuse", functools.partial(
                        self.record_reuse, outputs), patience),
                    _step_pool.submit(retry_storage, "recording the step for reuse", functools.partial(
                        self.services.reuse.record_latest, self.run["experiment"], self.name, self.parts), patience)]
        registered = self.register_outputs(outputs)
        finished = self.end(FINISHED, {"outputs": outputs, "is_reused": False, **fields,
                                       **({"registered_datasets": registered} if registered else {})})
        for bookkeeping in recorded:
            bookkeeping.result()
        return finished

    def register_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Outputs declared with ``register_on_complete``: a dataset version of what the step wrote (AML).

        Returns output -> {name, version} or {name, error}, kept on the step row; a registration that
        fails does not fail the step (its outputs are written and recorded either way).
        """
        done: dict[str, Any] = {}
        from pipeline_core.data.abstract_dataset import AbstractDataset
        from pipeline_core.data.file_dataset import FileDataset
        from pipeline_core.data.tabular_dataset import TabularDataset

        for data_id, loc in outputs.items():
            entry = self.spec.data.get(data_id)
            wanted = entry.get("register_on_complete") if entry else None
            if not wanted:
                continue
            paths = [{"datastore": loc["datastore"], "path": f"{str(loc['path']).rstrip('/')}/**"}]
            tabular = wanted.get("tabular")
            dataset: AbstractDataset = (
                TabularDataset({"type": "tabular", "paths": paths, "format": tabular["format"],
                                "include_path": bool(tabular.get("include_path")),
                                "partition_format": tabular.get("partition_format")}) if tabular else
                FileDataset({"type": "file", "paths": paths, "partition_format": None}))
            try:
                registered = dataset.register(self.services.workspace, wanted["name"], wanted.get("description"),
                                              wanted.get("tags"), create_new_version=True)
                done[data_id] = {"name": registered.name, "version": registered.version}
            except Exception as exc:  # noqa: BLE001 - the outputs are safe; say why the registration is not
                log.warning("step %s: output %s not registered as dataset %s: %s", self.name, data_id,
                            wanted["name"], exc)
                done[data_id] = {"name": wanted["name"], "error": str(exc)}
        return done

    def record_reuse(self, outputs: dict[str, Any], manifests: dict[str, Any] | None = None) -> None:
        """Record the outputs for reuse under the key, with what each holds now (one listing each) unless given."""
        if manifests is None:
            manifests = {d: output_manifest(list_prefix(self.services.container_for(loc.datastore), loc.path),
                                            loc.path, self._written.get(d))
                         for d, loc in self._out_locations.items()}
        self.services.reuse.record(self.key, self.run_id, self.name, outputs, self.parts, fit_manifests(manifests))

    def end(self, status: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The step's result, written through a storage outage, unless a newer attempt took the step over."""
        fields = {"end_time": utcnow(), **fields}
        try:
            self.row = retry_storage(f"recording the end of step {self.name!r}", functools.partial(
                self.services.runs.transition_from, self.row, status, fields, guard=self._owns),
                step_settings().storage_retry_seconds)
        except InvalidTransition as exc:
            self.row = exc.row
            if self.row.get("status") not in TERMINAL and not self._owns(self.row):
                return self.await_newer_attempt(step_settings().timeout_seconds)  # its result, not ours
        return self.result()

    def fail(self, message: str, outputs: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """End the step Failed with ``message`` (and what it uploaded); ``extra`` goes into the error."""
        fields: dict[str, Any] = {"error": {"message": message, **extra}}
        if outputs:
            fields["outputs"] = outputs
        return self.end(FAILED, fields)

    def raise_if_retries_left(self, message: str) -> None:
        """With ``set_retry`` attempts left, record this one's end and raise ``StepAttemptFailed`` (retried)."""
        attempts = int((self.step.get("retry") or {}).get("max_attempts", 1))
        attempt = int(self.row.get("attempt") or 1)
        if attempt < attempts:
            retry_storage(f"recording attempt {attempt} of step {self.name!r}", functools.partial(
                self.services.runs.update, self.run_id, step_key(self.name),
                {"error": {"message": f"attempt {attempt} of {attempts} failed: {message}"},
                 "attempt_ended": attempt}),
                step_settings().storage_retry_seconds)
            raise StepAttemptFailed(f"step {self.name!r} attempt {attempt} of {attempts} failed: {message}")

    def await_newer_attempt(self, timeout: float) -> dict[str, Any]:
        """This attempt was superseded by a redelivery: answer with the step's result once that attempt ends.

        A stale attempt never writes a result of its own (the orchestrator keeps the first answer it gets).
        """
        if self._log is not None and not self._log.closed:
            self._log.abandon()
        deadline = time.monotonic() + timeout + step_settings().storage_retry_seconds
        while time.monotonic() < deadline:
            try:
                row = self.services.runs.get_step(self.run_id, self.name)
            except Exception as exc:  # storage out: keep waiting
                log.debug("waiting for the newer attempt of step %s: %s", self.name, exc)
            else:
                if row.get("status") in TERMINAL:
                    return self.result(row)
            time.sleep(2.0)
        raise AmliteError(f"step {self.name!r}: attempt {self.attempt} was superseded by a newer attempt that "
                          "did not finish in time")

    def _owns(self, row: dict[str, Any]) -> bool:
        """This attempt may still write the step's result: no newer attempt (a redelivery) took the step over."""
        return int(row.get("attempt") or 0) == self.attempt


__all__ = ["StepAttemptFailed", "StepContext", "is_cancel_requested", "step_result", "stop_reason", "work_root"]
