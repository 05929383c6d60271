"""HyperDriveStep as a CHILD_RUNS step kind: its trials are child runs, its decisions ``search.decide``'s.

The generic orchestration (``engine/child_runs.py``) asks this plan for the next move with every
trial's row and logged metrics; the plan rebuilds the ``HyperDriveConfig`` from the spec entry's
``hyperdrive`` field (AML's recorded form, ``HyperDriveConfig.to_aml``) and calls ``decide``. A trial
runs the ScriptRunConfig's script in a working copy of the step's snapshot with the sampled
``--name value`` arguments appended, logging through ``Run.get_context()`` as its own run
(``{pipeline run id}_{step}_HD_{n}``), with a cancel check each second (an early-terminated trial
ends Canceled, as on AML). At the end the step writes every trial's metrics to its
``TrainingOutput("Metrics")`` output and the best trial's model file to a ``TrainingOutput("Model")`` one.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline_core.engine.child_runs import ChildMoves, ChildRun, child_stop_reason, note, search_summary
from pipeline_core.engine.reuse import fit_manifests, output_manifest
from pipeline_core.engine.step_context import StepContext, work_root
from pipeline_core.errors import AmliteError
from pipeline_core.execution.environments import StepEnvironment, ensure_environment
from pipeline_core.execution.logs import LOGS_CONTAINER, StepLog
from pipeline_core.execution.process import run_process
from pipeline_core.execution.snapshot import script_path
from pipeline_core.execution.step_settings import step_settings
from pipeline_core.runcontext.server import end_run_context, run_context_environment
from pipeline_core.storage.artifact_store import ArtifactStore
from pipeline_core.storage.blobs import list_prefix, upload_folder
from pipeline_core.storage.run_store import CANCELED, FAILED, FINISHED, step_key
from pipeline_core.train.hyperdrive.config import HyperDriveConfig, trial_arguments
from pipeline_core.train.hyperdrive.exceptions import HyperDriveConfigException
from pipeline_core.train.hyperdrive.parameter_expressions import ParameterExpression
from pipeline_core.train.hyperdrive.policies import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
)
from pipeline_core.train.hyperdrive.run import TrialRecord, sorted_by_primary_metric
from pipeline_core.train.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
    RandomParameterSampling,
)
from pipeline_core.train.hyperdrive.search import decide, metrics_document

#: How often the orchestrator asks again while trials run, so a policy judges them as they log.
POLICY_POLL_SECONDS = 2.0
#: Without a policy only the duration limit needs a look while trials run.
IDLE_POLL_SECONDS = 30.0
#: A search older than this many look intervals looks less often (see ``next_moves``).
POLL_AGE_DIVISOR = 60.0
#: The folder a trial writes files to that become its run's files (AML uploads ``./outputs``).
OUTPUTS_FOLDER = "outputs"

_SAMPLINGS: dict[str, type[HyperParameterSampling]] = {
    "RANDOM": RandomParameterSampling, "GRID": GridParameterSampling, "BAYESIANOPTIMIZATION": BayesianParameterSampling}


class _Script:
    """Stands for the ScriptRunConfig on the host side: only that a script exists matters to the config."""

    script = "<snapshot>"
    arguments: list[Any] = []


def config_from_spec(doc: Any, step: str) -> HyperDriveConfig:
    """The ``HyperDriveConfig`` a spec entry's ``hyperdrive`` field records (the SDK's ``spec_fields``)."""
    if not isinstance(doc, dict):
        raise HyperDriveConfigException(f"HyperDriveStep {step!r}: the spec has no 'hyperdrive' settings; "
                                        "build the step with HyperDriveStep(hyperdrive_config=...)")
    generator = doc.get("generator_config") or {}
    kind = _SAMPLINGS.get(str(generator.get("name")))
    if kind is None:
        raise HyperDriveConfigException(f"HyperDriveStep {step!r}: unknown sampling {generator.get('name')!r}; "
                                        f"use one of {', '.join(_SAMPLINGS)}")
    space = {name: _expression(value) for name, value in (generator.get("parameter_space") or {}).items()}
    sampling: HyperParameterSampling = (kind(space, generator.get("properties") or None)  # type: ignore[call-arg]
                                        if kind is RandomParameterSampling else kind(space))
    metric = doc.get("primary_metric_config") or {}
    return HyperDriveConfig(hyperparameter_sampling=sampling, primary_metric_name=str(metric.get("name") or ""),
                            primary_metric_goal=str(metric.get("goal") or ""), max_total_runs=doc.get("max_total_jobs"),
                            max_concurrent_runs=doc.get("max_concurrent_jobs"),
                            max_duration_minutes=doc.get("max_duration_minutes") or 10080,
                            policy=_policy(doc.get("policy_config") or {}), run_config=_Script())


def _expression(value: Any) -> ParameterExpression:
    name, args = value[0], value[1]
    if name == "choice":
        return ParameterExpression("choice", tuple(args[0]))
    return ParameterExpression(str(name), tuple(args))


def _policy(doc: dict[str, Any]) -> EarlyTerminationPolicy:
    name, props = doc.get("name"), dict(doc.get("properties") or {})
    if name == "Bandit":
        return BanditPolicy(**props)
    if name == "MedianStopping":
        return MedianStoppingPolicy(**props)
    if name == "TruncationSelection":
        return TruncationSelectionPolicy(**props)
    return NoTerminationPolicy()


def trial_records(children: list[ChildRun]) -> list[TrialRecord]:
    """The children as the search sees them (AML's ``Completed`` for a finished trial)."""
    return [TrialRecord(run_id=c.name, parameters=dict(c.parameters),
                        status="Completed" if c.status == FINISHED else c.status,
                        metrics={k: list(v) for k, v in c.metrics.items()}) for c in children]


def check_spec(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The kind's own check of a spec entry (the SDK's validate, publish, a posted spec)."""
    try:
        config_from_spec(entry.get("hyperdrive"), str(entry.get("name")))
    except (HyperDriveConfigException, TypeError, ValueError, IndexError, KeyError) as exc:
        return [("hyperdrive", str(exc))]
    outputs = entry.get("training_outputs")
    if outputs is not None and not isinstance(outputs, dict):
        return [("training_outputs", "must map an output's data id to its TrainingOutput")]
    return []


class HyperDrivePlan:
    """The ``ChildRunsPlan`` of HyperDriveStep (registered in ``engine/builtin_step_kinds.py``)."""

    def child_name(self, step: str, index: int) -> str:
        return f"{step}_HD_{index}"

    def next_moves(self, ctx: StepContext, children: list[ChildRun], elapsed_seconds: float) -> ChildMoves:
        config = config_from_spec(ctx.step.get("hyperdrive"), ctx.name)
        decision = decide(config, trial_records(children), elapsed_minutes=elapsed_seconds / 60.0)
        left = config.max_duration_minutes * 60.0 - elapsed_seconds
        poll = IDLE_POLL_SECONDS if isinstance(config.policy, NoTerminationPolicy) else POLICY_POLL_SECONDS
        # Each look costs the orchestrator's history an activity and a timer: a long search looks less
        # often (a 60th of its age), so an hour's search replays a few hundred looks, not thousands.
        poll = max(poll, elapsed_seconds / POLL_AGE_DIVISOR)
        return ChildMoves(start=decision.start, cancel=[(t.run_id, t.reason) for t in decision.cancel],
                          finished=decision.finished, reason=decision.reason,
                          wait_seconds=max(1.0, min(poll, left + 1.0)))

    def run_child(self, ctx: StepContext, child: dict[str, Any], attempt: int) -> tuple[str, dict[str, Any]]:
        """One trial: the script with its sampled arguments, in a working copy of the step's snapshot."""
        services, name = ctx.services, child["name"]
        settings = step_settings()
        work = Path(tempfile.mkdtemp(prefix=f"hd-{name[:20]}-", dir=work_root()))
        log = StepLog(services.account.container(LOGS_CONTAINER), ctx.run_id, name, work / "std_log.txt",
                      retry_seconds=settings.storage_retry_seconds, attempt=attempt)
        env: dict[str, str] = {}
        try:
            src = ctx.working_copy(work / "src")
            script = ctx.step["script_name"]
            script_path(src, script, ctx.name)
            paths = ctx.download_inputs(ctx.input_locations(), root=work)
            outputs = {d: work / "outputs" / d for d in ctx.step["outputs"] if d not in _training_outputs(ctx)}
            for folder in outputs.values():
                folder.mkdir(parents=True, exist_ok=True)
            paths.update(outputs)
            declared = StepEnvironment.from_spec(ctx.step.get("environment"))
            python = str(ensure_environment(declared)) if declared is not None else sys.executable
            arguments = trial_arguments([ctx.resolve(t, paths) for t in ctx.step["arguments"]],
                                        child.get("parameters") or {})
            env = ctx.environment(paths)
            end_run_context(env)  # the step's own token: a trial logs as its own run
            env.update(run_context_environment(services, ctx.run_id, name))
            env.update({"AZUREML_RUN_ID": f"{ctx.run_id}_{name}", "AMLITE_STEP_NAME": name})
            timeout, _ = ctx.timeout(settings)
            log.note(f"[amlite] child run {name} of step {ctx.name!r}: {' '.join(str(a) for a in arguments)}")
            result = run_process([python, "-u", script, *arguments], src, env, log, timeout=timeout,
                                 grace=settings.stop_grace_seconds,
                                 should_stop=lambda: child_stop_reason(services, ctx.run_id, ctx.name, name, attempt))
            _upload_run_files(ctx, name, src / OUTPUTS_FOLDER)
            for data_id, folder in outputs.items():  # each trial's share of a plain output: {path}/{trial}/
                loc = ctx.output_location(data_id)
                upload_folder(services.container_for(loc.datastore), folder, f"{loc.path.rstrip('/')}/{name}")
            if result.canceled:
                return CANCELED, {"error": {"message": "canceled while running"}}
            if result.timed_out:
                return FAILED, {"error": {"message": f"{script} timed out after {timeout:g} s"}}
            if result.exit_code != 0:
                tail = log.stderr_text()
                return FAILED, {"error": {"message": f"{script} exited with code {result.exit_code}"
                                          + (f"; last lines of stderr:\n{tail}" if tail else "")}}
            return FINISHED, {"exit_code": 0}
        finally:
            end_run_context(env)
            if not log.closed:
                log.close()
            shutil.rmtree(work, ignore_errors=True)

    def finish(self, ctx: StepContext, children: list[ChildRun], reason: str) -> dict[str, Any]:
        """Every trial's metrics and the best trial's model to the training outputs; Failed when no trial finished."""
        config = config_from_spec(ctx.step.get("hyperdrive"), ctx.name)
        trials = trial_records(children)
        ranked = sorted_by_primary_metric(trials, config.primary_metric_name, config.primary_metric_goal)
        best = ranked[0][0] if ranked else None
        counts = {s: sum(1 for c in children if c.status == s) for s in (FINISHED, FAILED, CANCELED)}
        search = search_summary(children, reason, primary_metric=config.primary_metric_name,
                                best_child_run=best.run_id if best else None,
                                best_primary_metric=ranked[0][1] if ranked else None)
        note(ctx.services, ctx.run_id, ctx.name,
             f"[amlite] {len(children)} trials: {counts[FINISHED]} finished, {counts[FAILED]} failed, "
             f"{counts[CANCELED]} canceled (early termination); "
             + (f"best {best.run_id} with {config.primary_metric_name}={ranked[0][1]}" if best
                else f"no trial logged {config.primary_metric_name!r}"))
        outputs = self._write_outputs(ctx, trials, best)
        if not counts[FINISHED]:
            first = next((c for c in children if c.status == FAILED), None)
            ctx.services.runs.update(ctx.run_id, step_key(ctx.name), {"search": search})
            return ctx.fail("no trial of the search finished" + (f"; {first.name}: {first.error}" if first else ""),
                            outputs)
        ctx.outputs = outputs
        manifests: dict[str, Any] = {}
        for data_id, loc in outputs.items():
            manifests[data_id] = output_manifest(list_prefix(ctx.services.container_for(loc["datastore"]),
                                                             loc["path"]), loc["path"])
        if ctx.key:
            ctx.services.reuse.record(ctx.key, ctx.run_id, ctx.name, outputs, ctx.parts, fit_manifests(manifests))
            ctx.services.reuse.record_latest(ctx.run["experiment"], ctx.name, ctx.parts)
        return ctx.end(FINISHED, {"outputs": outputs, "is_reused": False, "search": search})

    def _write_outputs(self, ctx: StepContext, trials: list[TrialRecord], best: TrialRecord | None
                       ) -> dict[str, dict[str, Any]]:
        written: dict[str, dict[str, Any]] = {}
        training = _training_outputs(ctx)
        for data_id in ctx.step["outputs"]:
            loc = ctx.output_location(data_id)
            container = ctx.services.container_for(loc.datastore)
            wanted = training.get(data_id)
            if wanted and wanted.get("type") == "Metrics":  # one JSON file at the output's path, as AML writes it
                body = json.dumps(metrics_document(trials), default=str).encode()
                container.upload_blob(loc.path.rstrip("/"), body, overwrite=True)
            elif wanted and wanted.get("type") == "Model" and best is not None:
                _copy_model(ctx, best.run_id, wanted.get("model_file"), container, loc.path)
            written[data_id] = {**loc.to_dict(), "count": len(list_prefix(container, loc.path))}
        return written


def _training_outputs(ctx: StepContext) -> dict[str, dict[str, Any]]:
    found = ctx.step.get("training_outputs")
    return found if isinstance(found, dict) else {}


def _upload_run_files(ctx: StepContext, child: str, folder: Path) -> None:
    """A trial's ``./outputs`` files become its run's files (AML's rule), where the model output finds them."""
    if not folder.is_dir():
        return
    store = ArtifactStore(ctx.services.account)
    root = folder.resolve()
    # Regular files inside the folder only: a link the script left pointing elsewhere is not uploaded.
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                       and p.resolve().is_relative_to(root)):
        with open(path, "rb") as handle:
            store.upload(f"{ctx.run_id}_{child}", f"{OUTPUTS_FOLDER}/{path.relative_to(folder).as_posix()}",
                         handle, path.stat().st_size)


def _copy_model(ctx: StepContext, child: str, model_file: str | None, container: Any, dest: str) -> None:
    """The best trial's ``model_file`` (a run file such as ``outputs/model.pkl``; all of ``outputs/`` when unset)."""
    store = ArtifactStore(ctx.services.account)
    run_id = f"{ctx.run_id}_{child}"
    names = store.names(run_id)
    chosen = [n for n in names if n == model_file] if model_file else [n for n in names if n.startswith("outputs/")]
    if model_file and not chosen:
        raise AmliteError(f"TrainingOutput(model_file={model_file!r}): the best trial {child} has no such file "
                          f"(its files: {', '.join(names[:20]) or 'none'}); write it under ./outputs in the script")
    for name in chosen:
        data = store.container.download_blob(store.blob_name(run_id, name)).readall()
        target = f"{dest.rstrip('/')}/{name.rsplit('/', 1)[-1]}" if model_file else \
            f"{dest.rstrip('/')}/{name[len('outputs/'):]}"
        container.upload_blob(target, data, overwrite=True)


PLAN = HyperDrivePlan()

__all__ = ["PLAN", "HyperDrivePlan", "check_spec", "config_from_spec", "trial_records"]
