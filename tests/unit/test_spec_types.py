"""The spec's typed records describe what the builder writes, and mypy checks code against them."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from mypy import api as mypy_api

from pipeline_core import (
    DataPath,
    DataReference,
    OutputFileDatasetConfig,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)
from pipeline_core.core.dataset import Dataset
from pipeline_core.data.datapath import DataPathComputeBinding
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep
from pipeline_core.spec import build_spec
from pipeline_core.spec_types import (
    DataEntry,
    ParallelInput,
    ParallelRunConfigEntry,
    ParameterEntry,
    SpecDoc,
    StepEntry,
    Token,
)

ROOT = Path(__file__).resolve().parents[2]


def _conforms(record: Any, kind: Any, where: str) -> None:
    """Every key is declared on ``kind`` and every required key is present."""
    assert isinstance(record, dict), where
    declared = typing.get_type_hints(kind)
    unknown = set(record) - set(declared)
    assert not unknown, f"{where}: keys {sorted(unknown)} are not declared on {kind.__name__}"
    missing = set(kind.__required_keys__) - set(record)
    assert not missing, f"{where}: required keys {sorted(missing)} of {kind.__name__} are missing"


def test_the_builder_writes_exactly_the_declared_records(tmp_path: Path) -> None:
    for name in ("prep.py", "score.py"):
        (tmp_path / name).write_text("print('hi')\n")
    prepared = PipelineData("prepared")
    out = OutputFileDatasetConfig("scored")
    raw = DataReference(datastore="workspaceblobstore", data_reference_name="raw", path_on_datastore="in/")
    path_param = PipelineParameter("input_path", default_value=DataPath(datastore="workspaceblobstore", path_on_datastore="a/"))
    prep = PythonScriptStep("prep.py", name="prep", source_directory=str(tmp_path), allow_reuse=False,
                            arguments=["--in", raw, "--rate", PipelineParameter("rate", default_value=0.5),
                                       "--path", (path_param, DataPathComputeBinding(mode="mount")),
                                       "--out", prepared], inputs=[raw], outputs=[prepared])
    config = ParallelRunConfig(environment=None, entry_script="score.py", error_threshold=5,
                               output_action="append_row", compute_target=None, node_count=1,
                               source_directory=str(tmp_path))
    score = ParallelRunStep("score", config, inputs=[Dataset.File.from_files(("workspaceblobstore", "img/**"))],
                            side_inputs=[prepared], output=out)
    doc = build_spec([prep, score]).doc

    _conforms(doc, SpecDoc, "spec")
    assert {d["kind"] for d in doc["data"].values()} == {"pipeline_data", "output", "data_reference", "dataset",
                                                         "datapath"}
    for data_id, entry in doc["data"].items():
        _conforms(entry, DataEntry, f"data[{data_id}]")
    for name, parameter in doc["parameters"].items():
        _conforms(parameter, ParameterEntry, f"parameters[{name}]")
    for step in doc["steps"]:
        _conforms(step, StepEntry, f"step {step['name']}")
        for token in [*step["arguments"], *step["params"].values()]:
            _conforms(token, Token, f"step {step['name']} token")
            assert len(token) == 1
    score_doc = doc["steps"][1]
    _conforms(score_doc["parallel_run_config"], ParallelRunConfigEntry, "parallel_run_config")
    for entry in score_doc["parallel_inputs"]:
        _conforms(entry, ParallelInput, "parallel_inputs")


def test_mypy_refuses_a_key_the_spec_does_not_have(tmp_path: Path) -> None:
    snippet = tmp_path / "uses_spec.py"
    snippet.write_text("from pipeline_core.spec import PipelineSpec\n\n\n"
                       "def script_of(spec: PipelineSpec) -> str:\n"
                       "    return spec.step('train')['script']\n\n\n"
                       "def inputs_of(spec: PipelineSpec) -> list[str]:\n"
                       "    return spec.step('train')['inputs']\n")
    out, _, status = mypy_api.run([str(snippet), "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary"])
    assert status == 1
    (error,) = out.strip().splitlines()  # line 9 reads a declared key: no error
    assert error.endswith('uses_spec.py:5: error: TypedDict "StepEntry" has no key "script"  [typeddict-item]')


def test_the_same_input_name_in_two_steps_keeps_each_dataset(tmp_path: Path) -> None:
    """AML scopes as_named_input names to the step: two steps may each read their own dataset as 'raw_data'."""
    from pipeline_core import Pipeline, PythonScriptStep, Workspace
    from pipeline_core.core.dataset import Dataset

    (tmp_path / "s.py").write_text("print(1)\n")
    steps = [PythonScriptStep(name=f"clean_{color}", script_name="s.py", source_directory=str(tmp_path),
                              inputs=[Dataset.Tabular.from_delimited_files(("workspaceblobstore", f"{color}.csv"),
                                                                           validate=False).as_named_input("raw_data")])
             for color in ("green", "yellow")]
    spec = Pipeline(Workspace(), steps).spec()
    green, yellow = spec.step("clean_green"), spec.step("clean_yellow")
    assert green["inputs"] == ["raw_data"] and "input_names" not in green
    (other,) = yellow["inputs"]
    assert other != "raw_data" and yellow["input_names"] == {other: "raw_data"}
    assert spec.data[other]["definition"]["paths"] == [{"datastore": "workspaceblobstore", "path": "yellow.csv"}]
