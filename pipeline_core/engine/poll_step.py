"""The generic POLL orchestration: work that runs elsewhere (a Databricks job), started and watched from here.

Why a generic shape: a remote job can run for hours. An activity that waited for it
would hold a Functions worker (and hit the host's function timeout); instead the
``poll_step`` sub-orchestration (``functions/poll.py``) calls ``poll_start`` once,
then, between durable timers that back off, ``poll_check`` until the remote work
ends. The orchestrator only yields; what it decides is here, pure (``PollLoop``),
and what touches storage or the remote service is the two activities below and the
kind's ``Poller``:

- ``start(ctx) -> Started``: submit the work (idempotently: a redelivered start must
  find the same remote run) and answer a small JSON handle;
- ``poll(ctx, handle) -> PollAnswer``: one request for the state now (no waiting);
  once terminal, the text for the step's log (the driver's output) and the message;
- ``cancel(ctx, handle)``: ask the service to stop the work.

A cancel of the pipeline run reaches the poller twice over: ``settle_steps`` (the
run's orchestrator, at once) calls ``cancel_polled`` for a POLL step it cancels, so
the remote work stops without waiting for a timer, and the next ``poll_check`` sees
the flag and ends the step Canceled. A step with a time limit is cancelled remotely
and fails when the orchestrator's clock passes it (``PollLoop.timed_out``), even if
the service never says so.

The step's log (``std_log.txt``) is an append blob written a few lines at a time by
the activities (submitted, each state change, the driver's output at the end), so a
follower sees a long remote run progress.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pipeline_core.engine.services import Services
from pipeline_core.engine.step_context import StepContext
from pipeline_core.engine.step_kinds import Orchestration, StepKind, find_step_kind, step_kind
from pipeline_core.errors import AmliteError
from pipeline_core.execution.logs import ATTEMPT_METADATA, DRIVER_LOG, LOGS_CONTAINER, log_blob_name
from pipeline_core.execution.step_settings import step_settings
from pipeline_core.execution.storage_retry import retry_storage
from pipeline_core.status import RunStatus
from pipeline_core.storage.blobs import list_prefix
from pipeline_core.storage.run_store import RUNNING, TERMINAL, step_key

log = logging.getLogger("amlite.engine")

#: Row field (JSON) of the remote work: ``handle`` (what ``Poller.start`` answered, so a redelivered
#: start and a cancel find the remote run), ``status`` (its last state) and the poller's own fields.
REMOTE_FIELD = "remote"
DEFAULT_FIRST_SECONDS = 5.0
DEFAULT_MAX_SECONDS = 60.0
#: Polls per generation of the ``poll_step`` orchestration: then it continues as new with its state, so a
#: run polled for a day replays a short history (Durable replays the whole history at every event).
RESTART_AFTER_POLLS = 100
#: Polls in a row that may fail (the service unreachable, 5xx after the client's retries) before the step fails.
MAX_POLL_FAILURES = 5


@dataclass(frozen=True)
class Started:
    """What ``Poller.start`` answers: the remote work's handle (small JSON) and a line for the step's log."""

    handle: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class PollAnswer:
    """The remote work's state now. ``status``: a RunStatus; terminal ones end the step.

    ``message``: why it ended that way (a failure's error names the service's state message);
    ``log``: text for the step's log (the driver's output, once terminal); ``fields``: extra
    fields for the step row (the remote run's page, its result).
    """

    status: str
    message: str = ""
    log: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class Poller(Protocol):
    """What a POLL kind registers (``StepKind(poller="module:object")``)."""

    def start(self, ctx: StepContext) -> Started: ...

    def poll(self, ctx: StepContext, handle: dict[str, Any]) -> PollAnswer: ...

    def cancel(self, ctx: StepContext, handle: dict[str, Any]) -> None: ...


def backoff_delay(polls_so_far: int, first: float, cap: float) -> float:
    """Seconds before the next poll: ``first``, doubled after each poll, at most ``cap``. Deterministic."""
    if polls_so_far < 0:
        raise ValueError("polls_so_far counts from 0")
    return min(cap, first * 2 ** min(polls_so_far, 16))


def idempotency_token(run_id: str, step: str) -> str:
    """A token (<= 64 characters) the same for every delivery of one step's start: one remote run per step."""
    return "amlite-" + hashlib.sha256(f"{run_id}\x00{step}".encode()).hexdigest()[:48]


# -- the orchestrator's memory (pure) -----------------------------------------------------------------
@dataclass
class PollLoop:
    """The sub-orchestration's state: no I/O, no clock of its own (times come from the Durable context)."""

    job: dict[str, Any]
    handle: dict[str, Any]
    first: float
    cap: float
    deadline: datetime | None
    polls: int = 0
    result: dict[str, Any] | None = None
    last_fire: datetime | None = None
    since_restart: int = 0  # polls in this generation of the orchestration (continue-as-new resets it)

    @classmethod
    def resume(cls, job: dict[str, Any]) -> PollLoop:
        """A loop carried over ``continue_as_new`` (``carry``): no second start, the same pacing and deadline."""
        state = job["resume"]
        deadline, last_fire = state.get("deadline"), state.get("last_fire")
        return cls(job={"run_id": job["run_id"], "step": job["step"]}, handle=state.get("handle") or {},
                   first=float(state["first"]), cap=float(state["max"]),
                   deadline=datetime.fromisoformat(deadline) if deadline else None,
                   polls=int(state.get("polls") or 0),
                   last_fire=datetime.fromisoformat(last_fire) if last_fire else None)

    def should_restart(self) -> bool:
        """Time to ``continue_as_new``: the history of one generation stays at about ``RESTART_AFTER_POLLS`` polls."""
        return self.since_restart >= RESTART_AFTER_POLLS

    def carry(self) -> dict[str, Any]:
        """The input of the next generation (``resume``)."""
        return {**self.job, "resume": {
            "handle": self.handle, "first": self.first, "max": self.cap, "polls": self.polls,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "last_fire": self.last_fire.isoformat() if self.last_fire else None}}

    @classmethod
    def from_start(cls, job: dict[str, Any], answer: dict[str, Any], now: datetime) -> PollLoop:
        """``answer`` is ``poll_start``'s; ``now`` the orchestrator's ``current_utc_datetime``."""
        timeout = answer.get("timeout_seconds")
        loop = cls(job={"run_id": job["run_id"], "step": job["step"]}, handle=answer.get("handle") or {},
                   first=float(answer.get("first") or DEFAULT_FIRST_SECONDS),
                   cap=float(answer.get("max") or DEFAULT_MAX_SECONDS),
                   deadline=now + timedelta(seconds=float(timeout)) if timeout else None)
        if answer.get("done"):
            loop.result = answer["result"]
        return loop

    @property
    def done(self) -> bool:
        return self.result is not None

    def next_fire(self, now: datetime) -> datetime:
        """When the next poll's timer fires: the backoff, but not after the deadline."""
        fire = now + timedelta(seconds=backoff_delay(self.polls, self.first, self.cap))
        self.last_fire = min(fire, self.deadline) if self.deadline is not None else fire
        return self.last_fire

    def timed_out(self, now: datetime) -> bool:
        """The deadline has passed: by the clock, or because the timer that just fired was set for it."""
        if self.deadline is None:
            return False
        return now >= self.deadline or (self.last_fire is not None and self.last_fire >= self.deadline)

    def check_input(self, now: datetime) -> dict[str, Any]:
        return {**self.job, "handle": self.handle, "polls": self.polls, "timed_out": self.timed_out(now)}

    def observe(self, answer: dict[str, Any]) -> None:
        self.polls += 1
        self.since_restart += 1
        if answer.get("done"):
            self.result = answer["result"]


# -- the activities -----------------------------------------------------------------------------------
def _kind(ctx: StepContext) -> StepKind:
    kind = step_kind(ctx.step.get("type"))
    if kind.orchestration is not Orchestration.POLL:
        raise AmliteError(f"step {ctx.name!r} ({kind.type}) is not a polled step kind")
    return kind


def _done(result: dict[str, Any]) -> dict[str, Any]:
    return {"done": True, "result": result}


def poll_start(services: Services, run_id: str, step: str) -> dict[str, Any]:
    """Start the step's remote work (or reuse, or answer a terminal step's result); the handle and poll pacing.

    A redelivery of this activity after the handle was recorded answers that handle: the
    remote work is never started twice for one step.
    """
    ctx = StepContext(services, run_id, step)
    early = ctx.early_result()
    if early is not None:
        return _done(early)
    kind = _kind(ctx)
    poller: Poller = kind.poller_object()
    recorded = (ctx.row.get(REMOTE_FIELD) or {}).get("handle")
    if ctx.row.get("status") == RUNNING and isinstance(recorded, dict):  # delivered again: the same remote work
        return {"done": False, "handle": recorded, **_pacing(poller), "timeout_seconds": _timeout(poller, ctx)}
    try:
        pacing = _pacing(poller)
    except AmliteError as exc:  # an unusable setting: the step fails naming it
        return _done(ctx.fail(str(exc)))
    refused = ctx.refusal()
    if refused:
        return _done(ctx.fail(refused))
    try:
        inputs = ctx.input_locations()
        key, parts = ctx.reuse_key(inputs)
    except AmliteError as exc:
        return _done(ctx.fail(str(exc)))
    reused = ctx.try_reuse(key, parts)
    if reused is not None:
        return _done(reused)
    other = ctx.begin(inputs, key, parts)
    if other is not None:
        return _done(other)
    remote_log = RemoteLog(services, run_id, step, ctx.attempt)
    try:
        timeout = _timeout(poller, ctx)
        started = poller.start(ctx)
    except Exception as exc:  # a refusal by the service, a credential missing: the step fails saying so
        message = str(exc) if isinstance(exc, AmliteError) else f"{type(exc).__name__}: {exc}"
        remote_log.note(f"[amlite] could not start step {step!r}: {message}")
        remote_log.close()
        return _done(ctx.fail(message))
    _record_remote(services, run_id, step, {"handle": started.handle})
    remote_log.note(started.note or f"[amlite] step {step!r} started: {started.handle}")
    return {"done": False, "handle": started.handle, **pacing, "timeout_seconds": timeout}


def _record_remote(services: Services, run_id: str, step: str, remote: dict[str, Any]) -> None:
    """The step row's ``remote`` field, written through a storage outage."""
    retry_storage(f"recording the remote work of step {step!r}", functools.partial(
        services.runs.update, run_id, step_key(step), {REMOTE_FIELD: remote}), step_settings().storage_retry_seconds)


def _pacing(poller: Poller) -> dict[str, float]:
    """The first wait and the cap between polls (the poller's ``schedule()``, else 5 s and 60 s)."""
    schedule = getattr(poller, "schedule", None)
    first, cap = schedule() if callable(schedule) else (DEFAULT_FIRST_SECONDS, DEFAULT_MAX_SECONDS)
    return {"first": first, "max": cap}


def _timeout(poller: Poller, ctx: StepContext) -> float | None:
    limit = getattr(poller, "timeout_seconds", None)
    return limit(ctx) if callable(limit) else None


def poll_check(services: Services, job: dict[str, Any]) -> dict[str, Any]:
    """One look at the remote work: not yet (``done`` False), or the step ended with its log and outputs."""
    run_id, step, handle = job["run_id"], job["step"], job.get("handle") or {}
    ctx = StepContext(services, run_id, step)
    if ctx.row.get("status") in TERMINAL:
        return _done(ctx.result())
    poller: Poller = _kind(ctx).poller_object()
    remote_log = RemoteLog(services, run_id, step, ctx.attempt, created=True)
    if ctx.cancel_requested():
        _cancel(poller, ctx, handle, remote_log, "the pipeline run was canceled")
        remote_log.close()
        return _done(ctx.end(RunStatus.CANCELED, {"error": {"message": "canceled while running; the remote "
                                                                       "work was asked to stop"}}))
    if job.get("timed_out"):
        limit = _timeout(poller, ctx)
        after = f" after {limit:g} s" if limit else ""
        _cancel(poller, ctx, handle, remote_log, f"its time limit{after} passed")
        remote_log.close()
        return _done(ctx.fail(f"step {step!r} timed out{after} (the remote work did not end by its own limit plus "
                              "one poll); the remote work was asked to stop", timed_out=True))
    remote = ctx.row.get(REMOTE_FIELD) or {}
    try:
        answer = poller.poll(ctx, handle)
    except Exception as exc:  # the service did not answer (after its client's own retries): try again later
        failures = int(remote.get("poll_failures") or 0) + 1
        message = str(exc) if isinstance(exc, AmliteError) else f"{type(exc).__name__}: {exc}"
        remote_log.note(f"[amlite] poll {job.get('polls', 0) + 1} could not read the remote state "
                        f"({failures} in a row): {message}")
        if failures >= MAX_POLL_FAILURES:
            _cancel(poller, ctx, handle, remote_log, f"{failures} polls in a row failed")
            remote_log.close()
            return _done(ctx.fail(f"step {step!r}: the remote work's state could not be read {failures} times in "
                                  f"a row; the last error: {message}"))
        _record_remote(services, run_id, step, {**remote, "poll_failures": failures})
        return {"done": False, "status": remote.get("status")}
    if not answer.terminal:
        if answer.status != remote.get("status") or remote.get("poll_failures"):
            remote_log.note(f"[amlite] {answer.message or answer.status}")
            _record_remote(services, run_id, step, {**remote, **answer.fields, "status": answer.status,
                                                    "poll_failures": 0})
        return {"done": False, "status": answer.status}
    if answer.log:
        remote_log.note(answer.log)
    remote_log.note(f"[amlite] {answer.message or answer.status}")
    remote_log.close()
    outputs = _record_outputs(ctx)
    remote = {**(ctx.row.get(REMOTE_FIELD) or {}), **answer.fields, "status": answer.status}
    if answer.status == RunStatus.FINISHED:
        return _done(ctx.finish(**{REMOTE_FIELD: remote}))
    if answer.status == RunStatus.CANCELED:
        return _done(ctx.end(RunStatus.CANCELED, {"outputs": outputs, REMOTE_FIELD: remote,
                                                  "error": {"message": answer.message or "canceled"}}))
    return _done(ctx.end(RunStatus.FAILED, {"outputs": outputs, REMOTE_FIELD: remote,
                                            "error": {"message": answer.message or "the remote work failed"}}))


def _cancel(poller: Poller, ctx: StepContext, handle: dict[str, Any], remote_log: RemoteLog, why: str) -> None:
    try:
        poller.cancel(ctx, handle)
        remote_log.note(f"[amlite] {why}: the remote work was asked to stop")
    except Exception as exc:  # noqa: BLE001 - the step ends either way; say the remote may still run
        log.warning("step %s of run %s: cancel failed: %s", ctx.name, ctx.run_id, exc)
        remote_log.note(f"[amlite] {why}, but asking the remote work to stop failed: {exc}")


def _record_outputs(ctx: StepContext) -> dict[str, Any]:
    """The outputs as the remote work left them: where each is and how many blobs it wrote (for reuse too)."""
    ctx.key = str(ctx.row.get("reuse_key") or "")
    ctx.parts = dict((ctx.row.get("reuse") or {}).get("parts") or {})
    outputs: dict[str, Any] = {}
    for data_id in ctx.step["outputs"]:
        loc = ctx.output_location(data_id)
        ctx._out_locations[data_id] = loc  # record_reuse lists these for the outputs' manifests
        count = len(list(list_prefix(ctx.services.container_for(loc.datastore), loc.path)))
        outputs[data_id] = {**loc.to_dict(), "count": count}
    ctx.outputs = outputs
    return outputs


def cancel_polled(services: Services, run_id: str, step: str) -> None:
    """Ask a POLL step's remote work to stop now (the run was canceled); its next poll ends the step."""
    try:
        row = services.runs.get_step(run_id, step)
    except Exception:  # noqa: BLE001 - no row, no remote work
        return
    handle = (row.get(REMOTE_FIELD) or {}).get("handle")
    if row.get("status") in TERMINAL or not isinstance(handle, dict):
        return
    ctx = StepContext(services, run_id, step)
    kind = find_step_kind(ctx.step.get("type"))
    if kind is None or kind.orchestration is not Orchestration.POLL:
        return
    try:
        kind.poller_object().cancel(ctx, handle)
    except Exception as exc:  # noqa: BLE001 - the next poll tries again
        log.warning("step %s of run %s: cancel of its remote work failed: %s", step, run_id, exc)


def is_polled(type_name: Any) -> bool:
    kind = find_step_kind(type_name)
    return kind is not None and kind.orchestration is Orchestration.POLL


class RemoteLog:
    """The step's ``std_log.txt`` as an append blob, written a few lines per activity (the attempt stamped)."""

    def __init__(self, services: Services, run_id: str, step: str, attempt: int, created: bool = False):
        self.container = services.account.container(LOGS_CONTAINER)
        self.run_id, self.step, self.attempt = run_id, step, attempt
        self.blob = self.container.get_blob_client(log_blob_name(run_id, step))
        self.patience = step_settings().storage_retry_seconds
        self._created = created

    def note(self, text: str) -> None:
        data = (text.rstrip("\n") + "\n").encode()

        def write() -> None:
            if not self._created:
                self.blob.upload_blob(data, blob_type="AppendBlob", overwrite=True,
                                      metadata={ATTEMPT_METADATA: str(self.attempt)})
                self._created = True
            else:
                try:
                    self.blob.append_block(data)
                except Exception as exc:
                    if getattr(exc, "status_code", None) != 404:
                        raise
                    self._created = False
                    write()

        retry_storage(f"writing the log of step {self.step!r}", write, self.patience)

    def close(self) -> None:
        """Copy the log to AML's ``70_driver_log.txt`` too."""
        def copy() -> None:
            if not self._created:
                return
            data = self.blob.download_blob().readall()
            self.container.upload_blob(log_blob_name(self.run_id, self.step, DRIVER_LOG), data, overwrite=True,
                                       metadata={ATTEMPT_METADATA: str(self.attempt)})

        retry_storage(f"saving the log of step {self.step!r}", copy, self.patience)


__all__ = ["REMOTE_FIELD", "PollAnswer", "PollLoop", "Poller", "RemoteLog", "Started", "backoff_delay",
           "cancel_polled", "idempotency_token", "is_polled", "poll_check", "poll_start"]
