"""PipelineSpec building and Pipeline.validate(): every message names the step and the argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_core import (
    DataPath,
    DataPathComputeBinding,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    StepSequence,
    Workspace,
)
from pipeline_core.spec import PipelineSpec, build_spec
from pipeline_core.validation import validate_spec


@pytest.fixture
def src(tmp_path: Path) -> Path:
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("print('hi')\n")
    return tmp_path


def _spec(steps: list, **kwargs) -> PipelineSpec:  # type: ignore[type-arg]
    return build_spec(steps, **kwargs)


def test_graph_id_is_stable_and_changes_with_content(src: Path) -> None:
    def make() -> list:  # type: ignore[type-arg]
        data = PipelineData("data")
        a = PythonScriptStep("a.py", name="a", arguments=["--out", data], outputs=[data], source_directory=str(src))
        b = PythonScriptStep("b.py", name="b", arguments=["--in", data], inputs=[data], source_directory=str(src))
        return [a, b]

    first, second = _spec(make()), _spec(make())
    assert first.graph_id == second.graph_id
    assert first.dependencies() == {"a": [], "b": ["a"]}
    (src / "helper.py").write_text("X = 1\n")  # a file the main scripts don't name still changes the snapshot
    assert _spec(make()).graph_id != first.graph_id


def test_spec_round_trips_through_json(src: Path) -> None:
    param = PipelineParameter("alpha", 0.5)
    step = PythonScriptStep("a.py", name="a", arguments=["--alpha", param, "--n", 3], source_directory=str(src))
    spec = _spec([step])
    again = PipelineSpec.from_json(spec.to_json())
    assert again.graph_id == spec.graph_id
    assert again.parameters == {"alpha": {"type": "float", "default": 0.5}}
    assert again.step("a")["arguments"] == [{"lit": "--alpha"}, {"param": "alpha"}, {"lit": "--n"}, {"lit": "3"}]


def test_parameter_types_and_datapath_default(src: Path) -> None:
    path = PipelineParameter("input", DataPath(datastore="workspaceblobstore", path_on_datastore="raw/x.csv"))
    flags = [PipelineParameter("s", "x"), PipelineParameter("i", 1), PipelineParameter("f", 1.5), PipelineParameter("b", True)]
    step = PythonScriptStep("a.py", name="a", arguments=[(path, DataPathComputeBinding()), *flags],
                            inputs=[(path, DataPathComputeBinding())], source_directory=str(src))
    spec = _spec([step])
    assert {n: p["type"] for n, p in spec.parameters.items()} == {
        "input": "datapath", "s": "str", "i": "int", "f": "float", "b": "bool"}
    assert spec.step("a")["inputs"] == ["datapath:input"]
    with pytest.raises(ValueError, match="use a str, int, float, bool, DataPath or Dataset default"):
        PipelineParameter("bad", [1, 2])


def test_validation_reports_each_problem_with_step_and_argument(src: Path) -> None:
    orphan = PipelineData("orphan")
    twice = PipelineData("twice")
    a = PythonScriptStep("a.py", name="a", arguments=["--x", orphan], inputs=[orphan], outputs=[twice],
                         source_directory=str(src))
    b = PythonScriptStep("b.py", name="b", outputs=[twice], source_directory=str(src))
    c = PythonScriptStep("missing.py", name="c", arguments=["$AML_PARAMETER_nope"], source_directory=str(src))
    d = PythonScriptStep("a.py", name="a", source_directory=str(src))
    e = PythonScriptStep("a.py", name="bad/name", source_directory=str(src))
    errors = validate_spec(_spec([a, b, c, d, e]))
    text = "\n".join(errors)
    assert "step 'a': input 'orphan' is not produced by any step" in text
    assert "output 'twice' is produced by more than one step ('a', 'b')" in text
    assert "step 'c': script_name 'missing.py' was not found in source_directory" in text
    assert "step 'c': arguments[0] refers to $AML_PARAMETER_nope" in text
    assert "step name 'a' is used by more than one step" in text
    assert "step name 'bad/name' is invalid" in text


def test_cycle_is_reported_with_its_path(src: Path) -> None:
    x, y = PipelineData("x"), PipelineData("y")
    a = PythonScriptStep("a.py", name="a", inputs=[y], outputs=[x], source_directory=str(src))
    b = PythonScriptStep("b.py", name="b", inputs=[x], outputs=[y], source_directory=str(src))
    errors = validate_spec(_spec([a, b]))
    assert any("cycle" in e and "'a'" in e and "'b'" in e for e in errors), errors


def test_conflicting_parameter_declarations(src: Path) -> None:
    a = PythonScriptStep("a.py", name="a", arguments=[PipelineParameter("n", 1)], source_directory=str(src))
    b = PythonScriptStep("b.py", name="b", arguments=[PipelineParameter("n", 2)], source_directory=str(src))
    errors = validate_spec(_spec([a, b]))
    assert any("PipelineParameter 'n' is declared twice" in e for e in errors)


def test_unsupported_argument_type_names_step_and_index(src: Path) -> None:
    a = PythonScriptStep("a.py", name="a", arguments=["--x", object()], source_directory=str(src))
    errors = validate_spec(_spec([a]))
    assert any(e.startswith("step 'a': arguments[1] has a value of type object") for e in errors)


def test_output_dataset_config_in_arguments_is_an_output_and_as_input_an_input(src: Path) -> None:
    out = OutputFileDatasetConfig("prepared")
    a = PythonScriptStep("a.py", name="a", arguments=["--out", out], source_directory=str(src))
    b = PythonScriptStep("b.py", name="b", arguments=["--in", out.as_input()], source_directory=str(src))
    spec = _spec([a, b])
    assert spec.step("a")["outputs"] == ["prepared"]
    assert spec.step("b")["inputs"] == ["prepared"]
    assert spec.dependencies()["b"] == ["a"]


def test_closure_from_last_step_and_step_sequence(src: Path) -> None:
    ws = Workspace(storage="UseDevelopmentStorage=true")
    data = PipelineData("data")
    a = PythonScriptStep("a.py", name="a", arguments=[data], outputs=[data], source_directory=str(src))
    b = PythonScriptStep("b.py", name="b", arguments=[data], inputs=[data], source_directory=str(src))
    assert [s.name for s in Pipeline(ws, [b]).steps] == ["a", "b"]
    c = PythonScriptStep("c.py", name="c", source_directory=str(src))
    d = PythonScriptStep("a.py", name="d", source_directory=str(src))
    seq = Pipeline(ws, StepSequence(steps=[c, [d, a]])).spec()
    assert seq.dependencies() == {"c": [], "d": ["c"], "a": ["c"]}


def test_amlignore_excludes_files_from_the_snapshot(src: Path) -> None:
    from pipeline_core.execution.snapshot import take_snapshot

    (src / "data").mkdir()
    (src / "data" / "big.bin").write_bytes(b"x" * 100)
    (src / ".amlignore").write_text("data/\n")
    before = take_snapshot(src)
    assert "data/big.bin" not in before.files and "a.py" in before.files
    (src / "data" / "big.bin").write_bytes(b"y" * 100)
    assert take_snapshot(src).hash == before.hash
