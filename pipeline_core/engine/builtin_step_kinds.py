"""The step kinds amlite ships, registered in one place (loaded by the registry on its first lookup).

A new built-in kind adds one ``register_step_kind`` line here (and its SDK class to
``pipeline_core.pipeline.steps``, as AML has it). Executors and classes are named, not
imported, so that reading the registry (the SDK's checks) stays cheap.
"""

from __future__ import annotations

from pipeline_core.engine.step_kinds import Orchestration, StepKind, register_step_kind

#: The Durable sub-orchestration that runs a ParallelRunStep (``functions/parallel.py`` registers it).
PARALLEL_STEP_ORCHESTRATOR = "parallel_step"

register_step_kind(StepKind(
    type="PythonScriptStep",
    sdk_class="pipeline_core.pipeline.steps.python_script_step:PythonScriptStep",
    executor="pipeline_core.engine.script_step:run_script",
    reuse_fields=("environment",),  # other declared packages: another venv, so the step runs again
))
register_step_kind(StepKind(
    type="ParallelRunStep",
    sdk_class="pipeline_core.pipeline.steps.parallel_run_step:ParallelRunStep",
    orchestration=Orchestration.SUB_ORCHESTRATION,
    orchestrator=PARALLEL_STEP_ORCHESTRATOR,
    reuse_fields=("environment",),
))
# kinds-simple (#14): CommandStep, DataTransferStep, AdlaStep (retired service: refused with the reason)
register_step_kind(StepKind(
    type="CommandStep", sdk_class="pipeline_core.pipeline.steps.command_step:CommandStep",
    executor="pipeline_core.engine.command_step:run_command", script=False,
    reuse_fields=("command", "environment"), check="pipeline_core.engine.command_step:check_command_step"))
register_step_kind(StepKind(
    type="DataTransferStep", sdk_class="pipeline_core.pipeline.steps.data_transfer_step:DataTransferStep",
    executor="pipeline_core.engine.data_transfer_step:run_transfer", script=False,
    reuse_fields=("source", "destination", "source_reference_type", "destination_reference_type"),
    check="pipeline_core.pipeline.steps.data_transfer_step:check_transfer_step",
    identity="pipeline_core.engine.data_transfer_step:transfer_identity"))
register_step_kind(StepKind(
    type="AdlaStep", sdk_class="pipeline_core.pipeline.steps.adla_step:AdlaStep", script=False,
    executor="pipeline_core.pipeline.steps.adla_step:run_adla_step",
    check="pipeline_core.pipeline.steps.adla_step:check_adla_step"))
register_step_kind(StepKind(
    type="DatabricksStep",
    sdk_class="pipeline_core.pipeline.steps.databricks_step:DatabricksStep",
    orchestration=Orchestration.POLL,  # the generic poll_step sub-orchestration (functions/poll.py)
    poller="pipeline_core.databricks.step:POLLER",
    script=False,
    reuse_fields=("databricks",),
    check="pipeline_core.databricks.step:check_databricks",
))
