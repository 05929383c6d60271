"""The registry of step kinds: SDK class <-> spec ``type`` <-> executor <-> how the orchestrator runs it.

Why a registry: the spec builder, the checks, ``start_run`` and ``run_step`` each
used to test ``type == "ParallelRunStep"``, so every new step kind meant an edit
in each of them. Now a kind is one module plus one ``register_step_kind(...)``
call, and the engine, the orchestrator and the spec builder ask the registry:

- the SDK step class (a ``PipelineStep`` subclass) names its ``step_type`` and
  supplies its spec entry through ``spec_fields(token)``, which the builder calls;
- ``start_run`` tells the orchestrator, per step, the ``orchestration`` of its kind
  (recorded in the history, so a replay sees what the first episode saw);
- ``run_step`` hands a ``StepContext`` to the kind's ``executor`` after the shared
  preamble (see ``engine/step_context.py``).

How the orchestrator runs a kind (``Orchestration``):

``ACTIVITY``
    One ``run_step`` activity calls the executor (``set_retry``: the
    ``pipeline_step_retry`` sub-orchestration around it). ``PythonScriptStep``.
``SUB_ORCHESTRATION``
    The sub-orchestration named by ``orchestrator`` runs the step, with input
    ``{"run_id", "step"}``, and returns the step result (``{"step", "status",
    "reused", "error"}``). ``ParallelRunStep`` (``parallel_step``: mini-batches
    fanned out as slice activities). This is also the room left for a kind polled
    with durable timers (DatabricksStep) or one that fans out child runs
    (HyperDriveStep): its Durable orchestrator is registered by the Functions app
    under a name and the kind names it; ``CHILD_RUNS`` is reserved for a generic
    orchestrator of that shape, so such kinds need no orchestrator of their own
    once it exists.
``POLL``
    Work that runs elsewhere and is watched from here (a Databricks job): the generic
    ``poll_step`` sub-orchestration (``functions/poll.py``, its decisions in
    ``engine/poll_step.py``) calls the kind's ``poller`` to start it, then waits on a
    durable timer with backoff between two polls until it ends; a cancel of the
    pipeline run reaches the poller's ``cancel``. No worker waits while it runs.

Registration is explicit: built-in kinds are registered in
``engine/builtin_step_kinds.py`` (loaded on the first lookup); a kind defined
elsewhere registers itself when its module is imported, and the process that
runs the steps must import that module (the Functions app, or the driver for a
local run). Executors are given as ``"module:function"`` so that building a
pipeline never imports the machinery that runs it.
"""

from __future__ import annotations

import builtins
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.engine.step_context import StepContext
    from pipeline_core.spec_types import StepEntry

#: What an ACTIVITY kind's executor is: called with the step's context once the step owns a new
#: attempt (inputs resolved, reuse missed, row Running); returns the step result (``ctx.finish``,
#: ``ctx.fail``, ``ctx.end``).
Executor = Callable[["StepContext"], dict[str, Any]]
#: A kind's own checks of its spec entry (as built by its SDK class, or as posted over REST):
#: (field of the entry, what is wrong with it and how to fix it) pairs; empty when it may run.
#: Asked by ``validation.step_problems`` (the SDK's validate, publish, submit -- a posted spec answers
#: 400 with the field as the detail's target -- and again before the step runs). A posted entry may
#: hold anything: the check must not assume the types it asks about.
SpecCheck = Callable[[dict[str, Any]], list[tuple[str, str]]]
#: A kind's identity of what it reads beyond its declared inputs (a database's rows), part of the reuse key;
#: JSON-able, or None when it cannot be known (the step is then never reused).
Identity = Callable[["StepContext"], Any]


class Orchestration(str, Enum):
    """How the pipeline orchestrator runs a step of a kind (see the module docstring)."""

    ACTIVITY = "activity"
    SUB_ORCHESTRATION = "sub_orchestration"
    POLL = "poll"  # start, then a durable timer between polls until done (DatabricksStep)
    CHILD_RUNS = "child_runs"  # reserved: child runs fanned out by the orchestrator (HyperDriveStep)


#: The generic Durable sub-orchestration that runs a POLL kind's step (``functions/poll.py`` registers it).
POLL_ORCHESTRATOR = "poll_step"


class UnknownStepKind(AmliteError):
    """A spec names a step type no registered kind answers to."""


@dataclass(frozen=True)
class StepKind:
    """One step kind. ``type`` is the spec's ``type`` and the SDK class's ``step_type``.

    ``sdk_class``: where the SDK class lives, ``"module:Class"`` (documentation and
    ``sdk_class_object()``; AML's classes are importable from ``pipeline_core.pipeline.steps``).
    ``executor``: ``"module:function"`` or a callable (ACTIVITY kinds).
    ``orchestrator``: the sub-orchestration's name (SUB_ORCHESTRATION kinds).
    ``script``: the spec entry carries ``script_name`` and a ``snapshot`` of
    ``source_directory``, checked at submit and again before the step runs.
    ``reuse_fields``: the kind's own spec fields (from ``spec_fields``) that are part of the
    reuse key, so changing one reruns the step; argument tokens inside them (``{"param": name}``,
    ``{"lit": "... $AML_PARAMETER_x ..."}``) count with the run's values of the parameters.
    ``check``: the kind's own checks of its spec entry (``SpecCheck``), or ``"module:function"``.
    ``identity``: what the step reads beyond its declared inputs, as part of the reuse key (``Identity``,
    or ``"module:function"``): a database's rows for DataTransferStep. ``None`` from it means the
    source cannot be identified, so the step is never reused.
    ``poller``: POLL kinds, ``"module:object"`` or the object: ``start(ctx) -> handle``,
    ``poll(ctx, handle) -> PollAnswer``, ``cancel(ctx, handle)`` (``engine/poll_step.Poller``).
    """

    type: str
    sdk_class: str
    executor: str | Executor | None = None
    orchestration: Orchestration = Orchestration.ACTIVITY
    orchestrator: str | None = None
    script: bool = True
    reuse_fields: tuple[str, ...] = ()
    check: str | SpecCheck | None = None
    identity: str | Identity | None = None
    poller: Any = None

    def __post_init__(self) -> None:
        if not self.type or not isinstance(self.type, str):
            raise ValueError("StepKind needs type, the step's spec type (its SDK class's step_type)")
        if self.orchestration is Orchestration.ACTIVITY and self.executor is None:
            raise ValueError(f"step kind {self.type!r} runs as an activity and needs an executor")
        if self.orchestration is Orchestration.SUB_ORCHESTRATION and not self.orchestrator:
            raise ValueError(f"step kind {self.type!r} runs as a sub-orchestration and needs its orchestrator's name")
        if self.orchestration is Orchestration.POLL:
            if self.poller is None:
                raise ValueError(f"step kind {self.type!r} is polled and needs its poller (\"module:object\" with "
                                 "start, poll and cancel)")
            if not self.orchestrator:  # the generic one (functions/poll.py registers it under this name)
                object.__setattr__(self, "orchestrator", POLL_ORCHESTRATOR)
        if self.orchestration is Orchestration.CHILD_RUNS:
            raise ValueError(f"step kind {self.type!r}: orchestration {self.orchestration.value!r} is reserved; "
                             "until its generic orchestrator exists, register the kind with "
                             "Orchestration.SUB_ORCHESTRATION and its own orchestrator's name")

    def run(self, ctx: StepContext) -> dict[str, Any]:
        """Call the executor (an ACTIVITY kind) on a context that owns a new attempt."""
        return _resolve(self.executor, f"the executor of step kind {self.type!r}")(ctx)

    def poller_object(self) -> Any:
        """The POLL kind's poller (``start``/``poll``/``cancel``), imported on first use."""
        return _resolve(self.poller, f"the poller of step kind {self.type!r}")

    def spec_problems(self, step: StepEntry) -> list[tuple[str, str]]:
        """The kind's own problems with ``step`` (its spec entry): (field, message) pairs."""
        if self.check is None:
            return []
        return list(_resolve(self.check, f"the spec check of step kind {self.type!r}")(step))

    def source_identity(self, ctx: StepContext) -> Any:
        """The kind's identity of its outside source for the reuse key; unknowable -> a value never seen twice."""
        found = _resolve(self.identity, f"the reuse identity of step kind {self.type!r}")(ctx) \
            if self.identity is not None else None
        if found is None:
            import uuid

            return {"unknowable": uuid.uuid4().hex}  # a key that matches no earlier run: never reused
        return found

    def sdk_class_object(self) -> builtins.type:
        found: builtins.type = _resolve(self.sdk_class, f"the SDK class of step kind {self.type!r}")
        return found


_lock = threading.Lock()
_kinds: dict[str, StepKind] = {}
_builtins_loaded = False


def register_step_kind(kind: StepKind) -> StepKind:
    """Add ``kind``; registering the same kind again is a no-op, another kind under its type is an error."""
    _load_builtins()  # first, so a kind cannot take a built-in's type by registering before them
    with _lock:
        known = _kinds.get(kind.type)
        if known is not None and known != kind:
            raise ValueError(f"step kind {kind.type!r} is already registered ({known.sdk_class}); "
                             "give the new kind its own type")
        _kinds[kind.type] = kind
    return kind


def unregister_step_kind(type_name: str) -> None:
    """Remove a kind (tests that register one of their own clean up with this)."""
    with _lock:
        _kinds.pop(type_name, None)


def step_kind(type_name: Any) -> StepKind:
    """The kind a spec's step ``type`` names, or ``UnknownStepKind`` listing the kinds this engine runs."""
    _load_builtins()
    kind = _kinds.get(type_name) if isinstance(type_name, str) else None
    if kind is None:
        raise UnknownStepKind(f"step type {type_name!r} cannot run here; use one of {', '.join(registered_types())} "
                              "(a step kind defined outside amlite must be imported, so it registers, in the "
                              "process that runs the steps)")
    return kind


def find_step_kind(type_name: Any) -> StepKind | None:
    try:
        return step_kind(type_name)
    except UnknownStepKind:
        return None


def registered_types() -> tuple[str, ...]:
    _load_builtins()
    return tuple(_kinds)


def step_kinds() -> list[StepKind]:
    _load_builtins()
    return list(_kinds.values())


def orchestrators_for(steps: list[StepEntry]) -> dict[str, str]:
    """Step name -> the sub-orchestration that runs it, for the steps whose kind is not a single activity."""
    found: dict[str, str] = {}
    for step in steps:
        kind = find_step_kind(step.get("type"))
        if kind is not None and kind.orchestration is not Orchestration.ACTIVITY and kind.orchestrator:
            found[step["name"]] = kind.orchestrator
    return found


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module("pipeline_core.engine.builtin_step_kinds")


def _resolve(target: Any, what: str) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise AmliteError(f"{what} ({target!r}) cannot be loaded: {exc}") from exc


__all__ = ["POLL_ORCHESTRATOR", "Executor", "Identity", "Orchestration", "SpecCheck", "StepKind", "UnknownStepKind", "find_step_kind", "orchestrators_for",
           "register_step_kind", "registered_types", "step_kind", "step_kinds", "unregister_step_kind"]
