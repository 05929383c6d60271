"""``AdlaStep``: a U-SQL job on Azure Data Lake Analytics -- a service Microsoft retired on 29 February 2024.

Why the class exists at all: AML v1 pipelines that held an AdlaStep must still
import and build (``from azureml.pipeline.steps import AdlaStep`` rewritten to
``pipeline_core``), so a migration fails at one clear place with the way out,
not with an ``ImportError``. Nothing runs it: ``validate()``, ``Pipeline.validate``,
publish and submit refuse it with the same message, and its executor (defence in
depth, for a spec posted over REST) fails the step with it. No partial behaviour.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.errors import ServiceRetiredError
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken

#: The one message every refusal gives: what happened to the service and where such a job goes now.
ADLA_RETIRED = ("Azure Data Lake Analytics (U-SQL) was retired on 29 February 2024, so AdlaStep cannot run "
                "anywhere; port the U-SQL script to Spark and run it with DatabricksStep (or an Azure Synapse "
                "Spark pool), or to Python with PythonScriptStep/DataTransferStep")


class AdlaStep(PipelineStep):
    """AML v1's ``AdlaStep``: constructs with AML's arguments and records them; never runs (see the module doc)."""

    step_type = "AdlaStep"

    def __init__(self, script_name: str, name: str | None = None, inputs: list[Any] | None = None,
                 outputs: list[Any] | None = None, params: dict[str, Any] | None = None,
                 degree_of_parallelism: int | None = None, priority: int | None = None,
                 runtime_version: str | None = None, compute_target: Any = None,
                 source_directory: str | None = None, allow_reuse: bool = True, version: str | None = None,
                 hash_paths: list[str] | None = None):
        super().__init__(name or str(script_name), inputs, outputs, None, allow_reuse)
        # Not ``script_name``: that attribute would make the spec builder snapshot a U-SQL folder for nothing.
        self.usql_script_name = script_name
        self.params: dict[str, Any] = {}  # U-SQL @params are not environment variables; recorded below instead
        self.usql_params = dict(params or {})
        self.degree_of_parallelism = degree_of_parallelism
        self.priority = priority
        self.runtime_version = runtime_version
        self.compute_target = compute_target
        self.source_directory = source_directory
        self.version = version
        self.hash_paths = list(hash_paths or [])

    def validate(self) -> None:
        """AML checks the step before submit; here the check is that the service is gone."""
        raise ServiceRetiredError(f"AdlaStep {self.name!r}: {ADLA_RETIRED}", parameter="AdlaStep")

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        target = self.compute_target
        return {"adla": {"script_name": str(self.usql_script_name),
                         "compute_target": getattr(target, "name", target) if target is not None else None}}


def check_adla_step(step: dict[str, Any]) -> list[tuple[str, str]]:
    """The kind's spec check: always a problem, so validate/publish/submit refuse the pipeline (400 over REST)."""
    return [("type", f"cannot run: {ADLA_RETIRED}")]


def run_adla_step(ctx: Any) -> dict[str, Any]:
    """The executor (only reached by a spec that skipped the checks): fail the step with the reason."""
    return ctx.fail(ADLA_RETIRED)


__all__ = ["ADLA_RETIRED", "AdlaStep"]
