"""Datasets on Azurite: globbing, registration versions, reading, and datasets as PythonScriptStep inputs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pipeline_core import Pipeline, PythonScriptStep, Workspace
from pipeline_core.core.dataset import Dataset
from pipeline_core.data.file_dataset import FileDataset
from pipeline_core.data.tabular_dataset import TabularDataset
from pipeline_core.errors import AmliteError, NotFoundError

pytestmark = pytest.mark.integration

READ = """
import argparse, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--docs"); p.add_argument("--table")
a = p.parse_args()
docs = sorted(str(x.relative_to(a.docs)) for x in pathlib.Path(a.docs).rglob("*") if x.is_file())
tables = sorted(x.name for x in pathlib.Path(a.table).rglob("*.csv"))
assert os.environ["AZUREML_DATAREFERENCE_docs"] == a.docs
print("docs:", ",".join(docs), "tables:", ",".join(tables))
"""


def _upload(ws: Workspace, tmp_path: Path, files: dict[str, str]) -> str:
    prefix = f"ds-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / prefix
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body)
    ws.get_default_datastore().upload(str(folder), target_path=prefix, show_progress=False)
    return prefix


def test_globs_to_path_download_and_validation(workspace: Workspace, tmp_path: Path) -> None:
    prefix = _upload(workspace, tmp_path, {"a.csv": "x\n1\n", "sub/b.csv": "x\n2\n", "sub/c.txt": "3"})
    store = workspace.get_default_datastore()
    assert Dataset.File.from_files((store, f"{prefix}/**")).to_path() == ["/a.csv", "/sub/b.csv", "/sub/c.txt"]
    assert Dataset.File.from_files((store, f"{prefix}/*.csv")).to_path() == ["/a.csv"]
    assert Dataset.File.from_files((store, f"{prefix}/**/*.csv")).to_path() == ["/a.csv", "/sub/b.csv"]
    assert Dataset.File.from_files((store, f"{prefix}/sub/c.txt")).to_path() == ["/c.txt"]
    both = Dataset.File.from_files([(store, f"{prefix}/a.csv"), (store, f"{prefix}/sub/*.txt")])
    assert both.to_path() == ["/a.csv", "/sub/c.txt"]
    local = both.download(str(tmp_path / "down"))
    assert sorted(Path(p).read_text() for p in local) == ["3", "x\n1\n"]
    with pytest.raises(AmliteError, match="already exists"):
        both.download(str(tmp_path / "down"))
    with pytest.raises(AmliteError, match="no blobs match"):
        Dataset.File.from_files((store, f"{prefix}/nothing/**"))
    assert Dataset.File.from_files((store, f"{prefix}/nothing/**"), validate=False).to_path() == []


def test_validation_finds_a_match_past_the_first_page_of_other_blobs(workspace: Workspace, tmp_path: Path) -> None:
    """``validate=True`` stops at the first match rather than listing every blob, but still looks past a page
    of blobs that do not match."""
    prefix = _upload(workspace, tmp_path, {**{f"n{i:03d}.txt": "x" for i in range(150)}, "z.csv": "x\n1\n"})
    store = workspace.get_default_datastore()
    assert Dataset.File.from_files((store, f"{prefix}/*.csv")).to_path() == ["/z.csv"]
    with pytest.raises(AmliteError, match="no blobs match"):
        Dataset.File.from_files((store, f"{prefix}/*.parquet"))


def test_register_versions_and_get_by_name(workspace: Workspace, tmp_path: Path) -> None:
    prefix = _upload(workspace, tmp_path, {"2024/01/north.csv": "id,v\n1,10\n2,20\n", "2024/02/south.csv": "id,v\n3,30\n"})
    store = workspace.get_default_datastore()
    name = f"sales-{uuid.uuid4().hex[:6]}"
    first = Dataset.Tabular.from_delimited_files((store, f"{prefix}/**/*.csv"), include_path=True,
                                                 partition_format="/{month:yyyy/MM}/{region}.csv")
    v1 = first.register(workspace, name, description="monthly sales", tags={"team": "a"})
    assert (v1.name, v1.version, v1.description, v1.tags) == (name, 1, "monthly sales", {"team": "a"})
    assert first.register(workspace, name).id == v1.id  # the same definition: the same version
    narrower = Dataset.Tabular.from_delimited_files((store, f"{prefix}/2024/01/*.csv"))
    with pytest.raises(AmliteError, match="create_new_version=True to register version 2"):
        narrower.register(workspace, name)
    v2 = narrower.register(workspace, name, create_new_version=True)
    assert v2.version == 2

    latest = Dataset.get_by_name(workspace, name)
    assert isinstance(latest, TabularDataset) and latest.version == 2 and latest.id == v2.id
    assert len(latest.to_pandas_dataframe()) == 2
    old = Dataset.get_by_name(workspace, name, version=1)
    assert isinstance(old, TabularDataset)
    frame = old.to_pandas_dataframe()
    assert list(frame.columns) == ["Path", "id", "v", "month", "region"]
    assert sorted(frame["region"]) == ["north", "north", "south"]
    assert str(frame["month"].iloc[0].date()) == "2024-01-01"
    assert old.partition_keys == ["month", "region"]
    with pytest.raises(NotFoundError, match="has no version 7; its versions: 1, 2"):
        Dataset.get_by_name(workspace, name, version=7)
    with pytest.raises(NotFoundError, match="no dataset named 'missing-one'"):
        Dataset.get_by_name(workspace, "missing-one")
    assert name in Dataset.get_all(workspace)


def test_datasets_as_script_inputs_and_reuse(workspace: Workspace, tmp_path: Path, source_dir: Path,
                                             experiment_name: str) -> None:
    prefix = _upload(workspace, tmp_path, {"docs/a.txt": "a", "docs/deep/b.txt": "b", "t/rows.csv": "x\n1\n"})
    store = workspace.get_default_datastore()
    name = f"docs-{uuid.uuid4().hex[:6]}"
    docs = Dataset.File.from_files((store, f"{prefix}/docs/**")).register(workspace, name)
    assert isinstance(docs, FileDataset)
    table = Dataset.Tabular.from_delimited_files((store, f"{prefix}/t/*.csv"))
    (source_dir / "read.py").write_text(READ)

    def pipeline() -> Pipeline:
        registered = Dataset.get_by_name(workspace, name)
        assert isinstance(registered, FileDataset)
        docs_in = registered.as_named_input("docs").as_mount()
        step = PythonScriptStep("read.py", name="read", source_directory=str(source_dir),
                                arguments=["--docs", docs_in, "--table", table.as_named_input("table")])
        return Pipeline(workspace, [step])

    first = pipeline().submit(experiment_name)
    assert first.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    step = first.find_step_run("read")[0]
    assert "docs: a.txt,deep/b.txt tables: rows.csv" in step.get_stdout_log()
    identity = step.get_details()["reuse"]["parts"]["inputs"]["docs"]
    assert (identity["dataset"], identity["version"], identity["blobs"]) == (name, 1, 2)

    second = pipeline().submit(experiment_name)
    assert second.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    assert second.find_step_run("read")[0].is_reused

    # Rewriting one blob changes its ETag: the consuming step runs again and says why.
    store._container.upload_blob(f"{prefix}/docs/a.txt", b"changed", overwrite=True)
    third = pipeline().submit(experiment_name)
    assert third.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    rerun = third.find_step_run("read")[0]
    assert not rerun.is_reused
    assert "input docs" in rerun.get_details()["reuse"]["changed"]


def test_tabular_transformations_and_partition_by(workspace: Workspace, tmp_path: Path) -> None:
    """AML's lazy TabularDataset transformations: each returns a new dataset; registering keeps them."""
    rows = "a,b,c\n" + "".join(f"{i},{'xyxzx'[i - 1]},0.5\n" for i in range(1, 6))
    prefix = _upload(workspace, tmp_path, {"t.csv": rows})
    store = workspace.get_default_datastore()
    ds = Dataset.Tabular.from_delimited_files((store, f"{prefix}/*.csv"))
    assert list(ds.take(2).to_pandas_dataframe()["a"]) == [1, 2]
    assert list(ds.skip(3).to_pandas_dataframe()["a"]) == [4, 5]
    assert list(ds.drop_columns("c").keep_columns(["b"]).to_pandas_dataframe().columns) == ["b"]
    assert list(ds.filter((ds["b"] == "x") & (ds["a"] > 1)).to_pandas_dataframe()["a"]) == [3, 5]
    assert list(ds.filter(~ds["b"].starts_with("x")).to_pandas_dataframe()["a"]) == [2, 4]
    left, right = ds.random_split(0.5, seed=7)
    assert sorted([*left.to_pandas_dataframe()["a"], *right.to_pandas_dataframe()["a"]]) == [1, 2, 3, 4, 5]
    assert list(ds.to_pandas_dataframe()["a"]) == [1, 2, 3, 4, 5]  # the original is unchanged
    name = f"kept-{uuid.uuid4().hex[:6]}"
    ds.keep_columns("a").register(workspace, name)
    assert list(Dataset.get_by_name(workspace, name).to_pandas_dataframe().columns) == ["a"]
    with pytest.raises(AmliteError, match="combine conditions with &"):
        ds.filter(ds["a"] > 1 and ds["b"] == "x")
    with pytest.raises(AmliteError, match="row count"):
        ds.take(-1)

    partitioned = ds.partition_by(["b"], (store, f"{prefix}-parts"), name=f"parts-{uuid.uuid4().hex[:6]}")
    assert partitioned.partition_keys == ["b"] and partitioned.version == 1
    frame = partitioned.to_pandas_dataframe()
    assert sorted(zip(frame["a"], frame["b"])) == [(1, "x"), (2, "y"), (3, "x"), (4, "z"), (5, "x")]
    _upload(workspace, tmp_path, {"h.csv": "k,v\n../../etc,1\n"})
    bad = Dataset.Tabular.from_delimited_files((store, "ds-*/h.csv"), validate=False)
    with pytest.raises(AmliteError, match="become a folder name"):
        bad.partition_by(["k"], (store, f"{prefix}-bad"))


def test_register_on_complete_registers_what_the_step_wrote(workspace: Workspace, source_dir: Path) -> None:
    """OutputFileDatasetConfig(...).register_on_complete(name): a new dataset version once the step finishes;
    read_delimited_files().register_on_complete registers a TabularDataset."""
    from pipeline_core.data import OutputFileDatasetConfig

    (source_dir / "write.py").write_text("import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\n"
                                         "open(os.path.join(sys.argv[1], 'rows.csv'), 'w').write('a,b\\n1,2\\n3,4\\n')\n")
    name = f"written-{uuid.uuid4().hex[:6]}"
    files = OutputFileDatasetConfig("files").register_on_complete(name, description="from the step")
    table = OutputFileDatasetConfig("table").read_delimited_files().register_on_complete(f"{name}-table")
    steps = [PythonScriptStep(name="write_files", script_name="write.py", source_directory=str(source_dir),
                              arguments=[files]),
             PythonScriptStep(name="write_table", script_name="write.py", source_directory=str(source_dir),
                              arguments=[table.output])]
    run = Pipeline(workspace, steps).submit("register-on-complete")
    assert run.wait_for_completion(show_output=False) == "Finished"
    registered = Dataset.get_by_name(workspace, name)
    assert isinstance(registered, FileDataset) and registered.description == "from the step"
    assert [p.lstrip("/") for p in registered.to_path()] == ["rows.csv"]
    assert run.find_step_run("write_files")[0]._refresh()["registered_datasets"] == {
        "files": {"name": name, "version": 1}}
    tabular = Dataset.get_by_name(workspace, f"{name}-table")
    assert isinstance(tabular, TabularDataset) and tabular.to_pandas_dataframe()["b"].tolist() == [2, 4]
