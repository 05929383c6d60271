"""A step kind defined outside amlite, in one module: ``ConstantStep`` writes a constant into its output.

This whole module is what a new step kind takes: the SDK class (its spec entry through
``spec_fields``), the executor (its work, on the public ``StepContext``), and one
``register_step_kind`` call. Nothing in the engine, the orchestrator or the spec builder
names it.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.engine.step_context import StepContext
from pipeline_core.engine.step_kinds import StepKind, register_step_kind
from pipeline_core.pipeline.core.graph import PipelineData, PipelineParameter
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken
from pipeline_core.safe_paths import safe_join


class ConstantStep(PipelineStep):
    """Writes ``value`` (text, or a PipelineParameter's value) to ``file_name`` in its ``output``."""

    step_type = "ConstantStep"

    def __init__(self, name: str, value: str | PipelineParameter, output: PipelineData,
                 file_name: str = "value.txt", allow_reuse: bool = True):
        super().__init__(name, outputs=[output], allow_reuse=allow_reuse)
        self.value = value
        self.file_name = file_name

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        return {"value": token(self.value, "value"), "file_name": self.file_name}


def write_constant(ctx: StepContext) -> dict[str, Any]:
    """The executor: the context has resolved the inputs, missed reuse and started the attempt."""
    value = ctx.resolve(ctx.step["value"], {})
    for folder in ctx.output_folders().values():
        safe_join(folder, ctx.step["file_name"], "ConstantStep file_name").write_text(value)
    ctx.log.note(f"[constant] wrote {value!r} to {ctx.step['file_name']}")
    ctx.upload_outputs()
    return ctx.finish()


CONSTANT_STEP = register_step_kind(StepKind(
    type="ConstantStep", sdk_class=f"{__name__}:ConstantStep", executor=write_constant, script=False,
    reuse_fields=("value", "file_name")))
