"""ParallelRunConfig / ParallelRunStep rules, the spec they build, and the pure parallel helpers (no storage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_core import OutputFileDatasetConfig, Pipeline, PipelineParameter, Workspace
from pipeline_core.core.dataset import Dataset
from pipeline_core.data.dataset_paths import DatasetFile, glob_regex, static_prefix
from pipeline_core.data.partition_format import date_keys, iso_datetime, partition_values
from pipeline_core.parallel.config import ConfigError, batch_size_for, parse_size, resolve
from pipeline_core.parallel.fetch import next_row_start
from pipeline_core.parallel.partition import (
    BatchInput,
    byte_ranges,
    group_row_groups,
    make_batches,
    partitioned_batches,
)
from pipeline_core.parallel.summary import add_result, limit_reason, new_summary, scheduled, should_abort
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep


def _config(**kwargs: Any) -> ParallelRunConfig:
    values: dict[str, Any] = {"environment": None, "entry_script": "score.py", "error_threshold": 5,
                              "output_action": "append_row", "compute_target": None, "node_count": 2}
    values.update(kwargs)
    return ParallelRunConfig(**values)


def _files_ds() -> Any:
    return Dataset.File.from_files(("workspaceblobstore", "images/**"))


# -- names and values ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["abc", "batch-score", "a1-b2", "x" * 32])
def test_step_name_rule_accepts(name: str) -> None:
    assert ParallelRunStep(name, _config(), inputs=[_files_ds()]).name == name


@pytest.mark.parametrize("name", ["ab", "x" * 33, "Batch", "1score", "score-", "score_1", "sc ore"])
def test_step_name_rule_refuses_with_the_rule(name: str) -> None:
    with pytest.raises(ValueError) as info:
        ParallelRunStep(name, _config(), inputs=[_files_ds()])
    message = str(info.value)
    assert repr(name) in message and "3-32 characters" in message and "lowercase letters, digits and '-'" in message


@pytest.mark.parametrize("field, value, fragment", [
    ("error_threshold", -2, "error_threshold must be an integer of at least -1"),
    ("output_action", "append", "output_action must be 'append_row' or 'summary_only'"),
    ("node_count", 0, "node_count must be a positive integer"),
    ("process_count_per_node", 0, "process_count_per_node must be a positive integer"),
    ("run_invocation_timeout", 0, "run_invocation_timeout must be a positive number of seconds"),
    ("run_max_try", 0, "run_max_try must be an integer of at least 1"),
    ("logging_level", "LOUD", "logging_level must be one of DEBUG, INFO"),
    ("allowed_failed_count", -5, "allowed_failed_count must be an integer of at least -1"),
    ("allowed_failed_percent", 101, "allowed_failed_percent must be a number from 0 to 100"),
    ("mini_batch_size", "1XB", "mini_batch_size '1XB' is not a size"),
    ("append_row_file_name", "out/rows.txt", "append_row_file_name must be a file name"),
    ("node_count", True, "node_count must be a positive integer"),
])
def test_config_values_are_checked(field: str, value: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match="ParallelRunConfig is invalid") as info:
        _config(**{field: value})
    assert fragment in str(info.value)


def test_config_combinations_and_parameters() -> None:
    with pytest.raises(ValueError, match="partition_keys and mini_batch_size cannot both be set"):
        _config(partition_keys=["store"], mini_batch_size=5)
    with pytest.raises(ValueError, match=r"the default of PipelineParameter 'tries'"):
        _config(run_max_try=PipelineParameter("tries", 0))
    with pytest.raises(ValueError, match="output_action cannot be a PipelineParameter"):
        _config(output_action=PipelineParameter("action", "append_row"))
    with pytest.raises(ValueError, match="needs error_threshold"):
        _config(error_threshold=None)
    params = {name: PipelineParameter(f"p_{name}", default) for name, default in [
        ("mini_batch_size", "10"), ("error_threshold", 3), ("node_count", 1), ("process_count_per_node", 2),
        ("run_invocation_timeout", 30), ("run_max_try", 2), ("logging_level", "DEBUG"),
        ("allowed_failed_count", 1), ("allowed_failed_percent", 50.0)]}
    config = _config(**params)
    spec = config.spec_config(lambda value, where: {"param": value.name})
    assert spec["parameters"] == {name: f"p_{name}" for name in params}
    assert spec["values"]["output_action"] == "append_row"


def test_file_inputs_take_a_count_not_a_size() -> None:
    with pytest.raises(ValueError, match="must be a number of files for file inputs"):
        ParallelRunStep("score", _config(mini_batch_size="1MB"), inputs=[_files_ds()])


def test_inputs_must_be_one_kind() -> None:
    table = Dataset.Tabular.from_delimited_files(("workspaceblobstore", "t/*.csv"))
    with pytest.raises(ValueError, match="mix file and tabular"):
        ParallelRunStep("score", _config(), inputs=[_files_ds(), table])
    with pytest.raises(ValueError, match="needs at least one input"):
        ParallelRunStep("score", _config(), inputs=[])


def test_resolve_names_the_parameter_that_carried_a_bad_value() -> None:
    config = {"values": {"error_threshold": 1, "output_action": "append_row", "node_count": 1,
                         "run_invocation_timeout": 60, "run_max_try": 3, "logging_level": "INFO"},
              "parameters": {"mini_batch_size": "size", "partition_keys": "keys"}}
    assert resolve(config, {"size": "2MB", "keys": None})["mini_batch_size"] == "2MB"
    with pytest.raises(ConfigError, match=r"mini_batch_size '2 parsecs' is not a size.*PipelineParameter 'size'"):
        resolve(config, {"size": "2 parsecs", "keys": None})
    resolved = resolve({**config, "parameters": {"partition_keys": "keys"}}, {"keys": '["store", "day"]'})
    assert resolved["partition_keys"] == ["store", "day"]
    assert batch_size_for({"mini_batch_size": None}, "file") == 10
    assert batch_size_for({"mini_batch_size": None}, "tabular") == 1024 * 1024
    assert batch_size_for({"mini_batch_size": "7"}, "file") == 7


@pytest.mark.parametrize("text, size", [(1024, 1024), ("1024", 1024), ("1KB", 1024), ("10mb", 10 * 1024 ** 2),
                                        ("1 GB", 1024 ** 3), ("0.5KB", 512)])
def test_parse_size(text: Any, size: int) -> None:
    assert parse_size(text) == size


def test_spec_records_config_inputs_and_parameters(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("def init():\n    pass\n\ndef run(b):\n    return b\n")
    batch = PipelineParameter("batch", 5)
    ds = _files_ds()
    model = Dataset.File.from_files(("workspaceblobstore", "model/**"))
    step = ParallelRunStep("score", _config(mini_batch_size=batch, source_directory=str(tmp_path)),
                           inputs=[ds.as_named_input("images")], output=OutputFileDatasetConfig("scores"),
                           side_inputs=[model.as_named_input("model")],
                           arguments=["--model", model.as_named_input("model").as_mount()])
    spec = Pipeline(Workspace(storage="UseDevelopmentStorage=true"), [step]).spec()
    doc = spec.step("score")
    assert doc["type"] == "ParallelRunStep" and doc["script_name"] == "score.py" and doc["snapshot"]
    assert doc["parallel_run_config"]["parameters"] == {"mini_batch_size": "batch"}
    assert doc["parallel_inputs"] == [{"data": "images", "type": "file"}]
    assert doc["side_inputs"] == ["model"] and doc["inputs"] == ["images", "model"]
    assert doc["outputs"] == ["scores"] and doc["arguments"] == [{"lit": "--model"}, {"data": "model"}]
    assert spec.data["images"]["kind"] == "dataset" and spec.data["images"]["dataset_type"] == "file"
    assert spec.parameters == {"batch": {"type": "int", "default": 5}}
    assert not spec.problems


# -- pure helpers -------------------------------------------------------------------------
def test_limits_trip_only_above_their_values() -> None:
    limits = {"error_threshold": 2, "allowed_failed_count": 1, "allowed_failed_percent": 25.0}
    counts = {"batches": 10, "failed_batches": 1, "failed_items": 2}
    assert limit_reason(counts, limits, all_scheduled=True) is None
    assert "error_threshold exceeded: 3 failed items" in str(limit_reason({**counts, "failed_items": 3}, limits, True))
    assert "allowed_failed_count exceeded: 2 failed mini-batches > allowed_failed_count=1" in str(
        limit_reason({**counts, "failed_batches": 2}, {**limits, "error_threshold": -1}, True))
    over = {"batches": 10, "failed_batches": 3, "failed_items": 3}
    relaxed = {"error_threshold": -1, "allowed_failed_count": None, "allowed_failed_percent": 25.0}
    assert "(30.0%) > allowed_failed_percent=25%" in str(limit_reason(over, relaxed, all_scheduled=True))
    assert limit_reason(over, relaxed, all_scheduled=False) is None  # checked once every batch was scheduled
    assert limit_reason(over, {"error_threshold": -1, "allowed_failed_count": -1}, True) is None


def test_summary_folds_results_and_aborts_early() -> None:
    summary = new_summary({"batches": 4, "limits": {"error_threshold": -1, "allowed_failed_count": 0}})
    summary = scheduled(summary, 2)
    summary = add_result(summary, {"status": "succeeded", "items": 3, "succeeded_items": 3, "failed_items": 0,
                                   "tries": 2})
    assert should_abort(summary) is None  # succeeded on a retry: not a failed batch
    assert summary["retried_batches"] == 1 and summary["scheduled"] == 2
    summary = add_result(summary, {"status": "failed", "items": 3, "succeeded_items": 0, "failed_items": 3,
                                   "tries": 3})
    assert "allowed_failed_count exceeded: 1 failed mini-batches > allowed_failed_count=0" in str(should_abort(summary))
    assert add_result(summary, {"status": "canceled"})["canceled"]


def test_byte_ranges_and_row_boundaries_cover_every_row_once() -> None:
    data = b"h1,h2\n" + b"".join(f"{i},{'x' * (i % 13)}\n".encode() for i in range(120))

    def read(offset: int, length: int) -> bytes:
        return data[offset:offset + length]

    for size in (1, 7, 64, 500, len(data)):
        ranges = byte_ranges(len(data), size)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        rows: list[bytes] = []
        for start, end in ranges:
            s, e = next_row_start(read, start, len(data)), next_row_start(read, end, len(data))
            rows.extend(line for line in data[s:e].splitlines())
        assert rows == data.splitlines()


def test_row_groups_group_up_to_the_batch_size() -> None:
    assert group_row_groups([(10, 400), (10, 400), (10, 400), (5, 2000), (1, 10)], 1000) == [[0, 1], [2], [3], [4]]


def _file(name: str, size: int = 10) -> DatasetFile:
    return DatasetFile("ws", name, "etag", size, name.split("/", 1)[1])


def test_file_batches_and_partitions() -> None:
    files = [_file(f"p/{store}/{i}.txt") for store in ("b", "a") for i in range(3)]
    batches = make_batches([BatchInput("docs", "file", files)], 4, None, lambda f: [])
    assert [b["items"] for b in batches] == [4, 2] and [b["index"] for b in batches] == [0, 1]
    keyed = BatchInput("docs", "file", files, partition_format="/{store}/{n}.txt")
    assert [b["key"] for b in partitioned_batches(keyed, ["store"])] == [{"store": "b"}, {"store": "a"}]
    with pytest.raises(ConfigError, match=r"partition_keys \['day'\] are not keys"):
        partitioned_batches(keyed, ["day"])
    with pytest.raises(ConfigError, match="need input 'docs' to have a partition_format"):
        partitioned_batches(BatchInput("docs", "file", files), ["store"])


def test_tabular_csv_files_are_cut_by_bytes_and_parquet_by_row_groups() -> None:
    csv = BatchInput("rows", "tabular", [_file("p/a.csv", 2500), _file("p/empty.csv", 0)], {"kind": "delimited"})
    batches = make_batches([csv], 1000, None, lambda f: [])
    assert [b["parts"][0] for b in batches] == [{"file": 0, "start": 0, "end": 1000},
                                                {"file": 0, "start": 1000, "end": 2000},
                                                {"file": 0, "start": 2000, "end": 2500}]
    parquet = BatchInput("rows", "tabular", [_file("p/a.parquet", 999)], {"kind": "parquet"})
    batches = make_batches([parquet], 1000, None, lambda f: [(5, 600), (5, 600)])
    assert [(b["parts"][0]["row_groups"], b["items"]) for b in batches] == [([0], 5), ([1], 5)]


def test_globs_and_partition_formats() -> None:
    assert static_prefix("data/2024/**/*.csv") == ("data/2024", True)
    assert static_prefix("data/file.csv") == ("data/file.csv", False)
    regex = glob_regex("data/**/*.csv")
    assert regex.match("data/a.csv") and regex.match("data/x/y/a.csv") and not regex.match("data/a.txt")
    assert not glob_regex("data/*.csv").match("data/x/a.csv")
    fmt = "/{region}/{day:yyyy/MM/dd}/*.csv"
    assert partition_values(fmt, "root/north/2024/03/09/part-1.csv") == {"region": "north", "day": "2024/03/09"}
    assert partition_values(fmt, "root/north/2024/03/part-1.csv") is None
    assert date_keys(fmt) == {"day": "yyyy/MM/dd"}
    assert iso_datetime("2024/03/09", "yyyy/MM/dd") == "2024-03-09T00:00:00"


def test_dataset_paths_accept_aml_shapes() -> None:
    from pipeline_core import DataPath
    from pipeline_core.errors import AmliteError

    ds = Dataset.File.from_files([DataPath("ws", "a/**"), ("ws", "/b/*.txt"), "azureml://datastores/ws/paths/c/x.csv"])
    assert ds.definition["paths"] == [{"datastore": "ws", "path": "a/**"}, {"datastore": "ws", "path": "b/*.txt"},
                                      {"datastore": "ws", "path": "c/x.csv"}]
    assert Dataset.File.from_files("https://example.com/data.csv").definition["paths"] == [
        {"datastore": "@web", "path": "https://example.com/data.csv"}]  # read over http when consumed
    with pytest.raises(AmliteError, match="is not understood"):
        Dataset.File.from_files("ftp://example.com/data.csv")
    with pytest.raises(ValueError, match="as_mount\\(\\) is for file datasets"):
        Dataset.Tabular.from_delimited_files(("ws", "t/*.csv")).as_named_input("t").as_mount()
    with pytest.raises(ValueError, match="dataset input name 'bad-name' is invalid"):
        ds.as_named_input("bad-name")
