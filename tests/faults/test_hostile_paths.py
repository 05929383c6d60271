"""Blob names, dataset files and snapshot zip entries are names from data: none may write outside its folder.

Each case plants a name that climbs out (``..`` segments, as storage stores
``in\\..\\..\\x``; an absolute name; a symlink entry), aims it at a canary file
that exists outside the target folder, runs the real code path (a local run
on Azurite, ``FileDataset.download``, ``StepRun...download()``, a
ParallelRunStep batch fetch, snapshot extraction) and checks that the canary is
untouched and the refusal names the blob or entry.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import uuid
import zipfile
from pathlib import Path

import pytest

from pipeline_core import (
    DataReference,
    Dataset,
    Datastore,
    Experiment,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.errors import AmliteError

pytestmark = pytest.mark.integration

PRECIOUS = "precious: must never be overwritten"
READ_INPUT = """
import pathlib, sys
print(sorted(p.name for p in pathlib.Path(sys.argv[1]).rglob('*')))
"""


def _climbing(prefix: str, ups: int, leaf: str) -> str:
    """A blob name under ``prefix`` that climbs ``ups`` folders; written with ``\\`` as an attacker would
    (the storage service stores it with ``/``, so the SDK's client cannot normalise the ``..`` away)."""
    return prefix + "\\" + "\\".join([".."] * ups) + "\\" + leaf


def _canary(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    canary = folder / f"canary-{uuid.uuid4().hex[:8]}.txt"
    canary.write_text(PRECIOUS)
    return canary


def _upload(ws: Workspace, name: str, data: bytes = b"attacker data") -> str:
    container = ws.get_default_datastore()._container
    container.upload_blob(name, data, overwrite=True)
    stored = name.replace("\\", "/")
    listed = [b.name for b in container.list_blobs(name_starts_with=stored.split("/", 1)[0])]
    assert stored in listed, f"the storage service did not keep the name as expected: {listed}"
    return stored


@pytest.fixture
def cache_dir() -> Path:
    from pipeline_core.execution.snapshot import cache_root

    return cache_root()


def test_step_input_blob_cannot_write_outside_the_step_folder(workspace: Workspace, source_dir: Path,
                                                              experiment_name: str, cache_dir: Path) -> None:
    # The step downloads into <cache>/work/<step tmp>/inputs/<id>/: four levels up is the cache root.
    canary = _canary(cache_dir)
    prefix = f"hostile-{uuid.uuid4().hex[:8]}/in"
    _upload(workspace, f"{prefix}/good.txt", b"fine")
    stored = _upload(workspace, _climbing(prefix, 4, canary.name))
    (source_dir / "read.py").write_text(READ_INPUT)
    data = DataReference(workspace.get_default_datastore(), data_reference_name="raw", path_on_datastore=prefix)
    step = PythonScriptStep("read.py", name="read", source_directory=str(source_dir), inputs=[data],
                            arguments=[data], allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    status = run.wait_for_completion(show_output=False, timeout_seconds=60, raise_on_error=False)

    assert canary.read_text() == PRECIOUS
    assert status == "Failed"
    error = run.find_step_run("read")[0].get_details()["error"]["message"]
    assert stored in error and "'..'" in error, error


def test_dataset_download_refuses_a_climbing_blob(workspace: Workspace, tmp_path: Path) -> None:
    canary = _canary(tmp_path)
    base = f"hostile-{uuid.uuid4().hex[:8]}/ds"
    _upload(workspace, f"{base}/good.txt", b"fine")
    stored = _upload(workspace, _climbing(base, 3, canary.name))
    dataset = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{base}/**"))
    target = tmp_path / "a" / "b" / "download"  # three levels below the canary's folder

    with pytest.raises(AmliteError) as refused:
        dataset.download(target_path=str(target), overwrite=True)

    assert canary.read_text() == PRECIOUS
    assert stored in str(refused.value) and "'..'" in str(refused.value)
    assert not (target / "good.txt").exists(), "nothing is downloaded once one name is refused"


def test_tabular_dataset_refuses_a_climbing_blob(workspace: Workspace) -> None:
    # to_pandas_dataframe downloads into a new folder under the system temp dir: one level up is that dir.
    leaf = f"canary-{uuid.uuid4().hex[:8]}.csv"
    outside = Path(tempfile.gettempdir()) / leaf
    base = f"hostile-{uuid.uuid4().hex[:8]}/tab"
    _upload(workspace, f"{base}/good.csv", b"a,b\n1,2\n")
    stored = _upload(workspace, _climbing(base, 1, leaf), b"a,b\n6,6\n")
    dataset = Dataset.Tabular.from_delimited_files(path=(workspace.get_default_datastore(), f"{base}/**/*.csv"))
    try:
        with pytest.raises(AmliteError) as refused:
            dataset.to_pandas_dataframe()
        assert stored in str(refused.value)
        assert not outside.exists()
    finally:
        outside.unlink(missing_ok=True)


def test_datastore_download_refuses_climbing_and_absolute_blob_names(workspace: Workspace, tmp_path: Path) -> None:
    container = f"hostile{uuid.uuid4().hex[:10]}"
    store = Datastore.register_azure_blob_container(workspace, container, container, create_if_not_exists=True)
    canary = _canary(tmp_path)
    store._container.upload_blob("data/good.txt", b"fine")
    store._container.upload_blob("data\\..\\..\\" + canary.name, b"attacker data")
    absolute = tmp_path / f"absolute-{uuid.uuid4().hex[:8]}.txt"
    store._container.upload_blob(str(absolute), b"attacker data")  # a name with a leading '/'
    target = tmp_path / "dl"

    with pytest.raises(AmliteError) as climbing:
        store.download(str(target), prefix="data", overwrite=True, show_progress=False)
    with pytest.raises(AmliteError) as absolute_refused:
        store.download(str(target), overwrite=True, show_progress=False)

    assert canary.read_text() == PRECIOUS and not absolute.exists()
    assert "data/../../" in str(climbing.value)
    assert str(absolute) in str(absolute_refused.value) and "absolute" in str(absolute_refused.value)


def test_step_output_download_refuses_a_blob_planted_in_the_output(workspace: Workspace, source_dir: Path,
                                                                   experiment_name: str, tmp_path: Path) -> None:
    (source_dir / "write.py").write_text("import pathlib, sys\n"
                                         "pathlib.Path(sys.argv[1], 'result.txt').write_text('ok')\n")
    out = PipelineData("out", datastore=workspace.get_default_datastore())
    step = PythonScriptStep("write.py", name="write", source_directory=str(source_dir), outputs=[out],
                            arguments=[out], allow_reuse=False)
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [step]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=60) == "Finished"
    reference = run.find_step_run("write")[0].get_output_data("out")
    canary = _canary(tmp_path)
    # download() writes to local/<path_on_datastore>/<blob below it>: 3 path segments + x/y = 5 levels up
    stored = _upload(workspace, _climbing(reference.path_on_datastore, 5, canary.name))

    with pytest.raises(AmliteError) as refused:
        reference.download(str(tmp_path / "x" / "y"), overwrite=True, show_progress=False)

    assert canary.read_text() == PRECIOUS
    assert stored in str(refused.value)


def test_parallel_batch_fetch_refuses_a_climbing_blob(workspace: Workspace, tmp_path: Path) -> None:
    """A ParallelRunStep worker host fetches each mini-batch's files to <root>/<input>/<relative path>."""
    from pipeline_core.parallel.fetch import fetch_batch, location_files

    canary = _canary(tmp_path)
    prefix = f"hostile-{uuid.uuid4().hex[:8]}/batch"
    _upload(workspace, f"{prefix}/good.txt", b"fine")
    stored = _upload(workspace, _climbing(prefix, 3, canary.name))
    store = workspace.get_default_datastore()
    files = location_files(store._container, store.name, prefix)
    assert stored in [f.name for f in files]
    batch = {"index": 0, "input": "images", "files": [f.to_dict() for f in files]}
    root = tmp_path / "host" / "inputs"  # <root>/images/../../../ is tmp_path

    with pytest.raises(AmliteError) as refused:
        fetch_batch(lambda name: Datastore.get(workspace, name)._container, batch, {"type": "file"}, root)

    assert canary.read_text() == PRECIOUS
    assert stored in str(refused.value)


# -- snapshot zips ------------------------------------------------------------------------------
def _zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["climbing", "absolute", "symlink"])
def test_snapshot_extraction_refuses_hostile_entries(kind: str, cache_dir: Path, tmp_path: Path) -> None:
    from pipeline_core.execution.snapshot import extract_to_cache

    canary = _canary(cache_dir / "snapshots")  # extraction stages inside <cache>/snapshots/
    canary.chmod(0o600)
    if kind == "climbing":
        name = f"../{canary.name}"
        entries = [("train.py", b"print(1)\n", 0o100644), (name, b"attacker data", 0o100777)]
    elif kind == "absolute":
        name = str(canary)
        entries = [("train.py", b"print(1)\n", 0o100644), (name, b"attacker data", 0o100777)]
    else:
        name = "link.py"
        entries = [("train.py", b"print(1)\n", 0o100644), (name, str(canary).encode(), stat.S_IFLNK | 0o777)]
    snapshot_hash = uuid.uuid4().hex * 2

    with pytest.raises(AmliteError) as refused:
        extract_to_cache(snapshot_hash, _zip(entries))

    assert canary.read_text() == PRECIOUS
    assert stat.S_IMODE(os.stat(canary).st_mode) == 0o600, "the canary's mode was changed"
    assert name in str(refused.value)
    assert not (cache_dir / "snapshots" / snapshot_hash).exists(), "a refused snapshot is not cached"
    leftovers = [p for p in (cache_dir / "snapshots").iterdir() if p.name.startswith(f".{snapshot_hash[:12]}")]
    assert leftovers == [], "the staging folder is removed"
