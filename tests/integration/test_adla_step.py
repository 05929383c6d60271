"""AdlaStep and AdlaCompute: Azure Data Lake Analytics was retired in February 2024.

Migrated code imports and builds as before; the first check (the step's ``validate()``,
``Pipeline.validate``, submit, publish) refuses it with the one message that says why and
where such a job goes now -- nothing of it ever runs.
"""

from __future__ import annotations

import pytest

from pipeline_core import Experiment, Pipeline, PipelineData, PythonScriptStep, ValidationError, Workspace
from pipeline_core.core.compute import AdlaCompute, ComputeTarget
from pipeline_core.errors import ServiceRetiredError
from pipeline_core.pipeline.steps import AdlaStep
from pipeline_core.pipeline.steps.adla_step import ADLA_RETIRED

pytestmark = pytest.mark.integration


def _adla(workspace: Workspace) -> AdlaStep:
    config = AdlaCompute.attach_configuration(resource_group="rg", account_name="myadla")
    compute = ComputeTarget.attach(workspace, "adla", config)
    return AdlaStep(script_name="sample.usql", name="usql", inputs=[], outputs=[PipelineData("usql_out")],
                    params={"@x": 1}, degree_of_parallelism=4, priority=100, runtime_version="default",
                    compute_target=compute, source_directory=".")


def test_adla_step_imports_and_constructs_but_validate_says_the_service_is_retired(workspace: Workspace) -> None:
    from pipeline_core import _warnings

    _warnings._said.discard("AdlaCompute")
    with pytest.warns(UserWarning, match="Data Lake Analytics was retired"):
        step = _adla(workspace)
    assert isinstance(step.compute_target, AdlaCompute) and step.degree_of_parallelism == 4
    with pytest.raises(ServiceRetiredError) as raised:
        step.validate()
    assert "retired on 29 February 2024" in str(raised.value) and "DatabricksStep" in str(raised.value)
    assert "Synapse" in ADLA_RETIRED


def test_a_pipeline_holding_an_adla_step_is_refused_at_validate_and_submit(
        workspace: Workspace, source_dir, experiment_name: str) -> None:  # type: ignore[no-untyped-def]
    (source_dir / "after.py").write_text("print('never')\n")
    step = _adla(workspace)
    after = PythonScriptStep("after.py", inputs=[step._outputs[0]], source_directory=str(source_dir))
    pipeline = Pipeline(workspace, [step, after])
    problems = pipeline.validate()
    assert any("AdlaStep 'usql'" in p and "retired" in p and "DatabricksStep" in p for p in problems), problems
    with pytest.raises(ValidationError, match="Data Lake Analytics"):
        Experiment(workspace, experiment_name).submit(pipeline)
    with pytest.raises(ValidationError, match="Data Lake Analytics"):
        pipeline.publish(name="adla-pipeline")
