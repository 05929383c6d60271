"""ParallelRunStep at scale on Azurite: 10,000 files, 1,000 mini-batches, bounded orchestration histories.

The point is the shape of the Durable work, read from the local engine: the
mini-batches are spread over chunk sub-orchestrations, no history holds more
tasks than the chunk size, and yet every mini-batch ran once, has its status
row, and its rows are in ``parallel_run_step.txt``.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import urllib3
from azure.storage.blob import ContainerClient, ContainerSasPermissions, generate_container_sas

from amlite_devhost.durable.history import EventType
from amlite_local.engine import local_history, local_instances
from pipeline_core import Datastore, Pipeline, Workspace
from pipeline_core.core.dataset import Dataset
from pipeline_core.data import OutputFileDatasetConfig
from pipeline_core.parallel.batches import BatchStore
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep

pytestmark = pytest.mark.integration

FILES = 10_000
CHUNK_TASKS = 16  # small, so 1,000 mini-batches need several chunks

SCRIPT = """
import os

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(p)} {open(p).read()}" for p in mini_batch]
"""


def _upload_many(container: ContainerClient, prefix: str, count: int) -> None:
    """PUT ``count`` tiny blobs over a few pooled connections (the SDK's per-call overhead would dominate)."""
    credential = container.credential
    sas = generate_container_sas(credential.account_name, container.container_name,
                                 account_key=credential.account_key,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    http = urllib3.PoolManager(maxsize=8, retries=urllib3.Retry(total=3, backoff_factor=0.1))
    headers = {"x-ms-blob-type": "BlockBlob", "x-ms-version": container.api_version}

    def put(i: int) -> None:
        response = http.request("PUT", f"{container.url}/{prefix}/f{i:05d}.txt?{sas}", body=str(i).encode(),
                                headers=headers)
        assert response.status == 201, (response.status, response.data[:300])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(count)))


def _tasks(history: list[dict[str, Any]]) -> int:
    """Activities and sub-orchestrations an orchestration scheduled (timers are not tasks of the fan-out)."""
    kinds = (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED)
    return sum(1 for e in history if e["EventType"] in kinds)


def test_ten_thousand_files_keep_every_history_bounded(workspace: Workspace, source_dir: Path,
                                                       experiment_name: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_PRS_CHUNK_TASKS", str(CHUNK_TASKS))
    (source_dir / "echo.py").write_text(SCRIPT)
    prefix = f"fanout-{uuid.uuid4().hex[:8]}"
    # A container of its own, dropped at the end: 10,000 blobs left in workspaceblobstore would slow every
    # later listing of it (the dev host's blob-trigger scan in the schedule tests lists that container).
    store = Datastore.register_azure_blob_container(workspace, f"fanout_{uuid.uuid4().hex[:8]}",
                                                    f"fanout-{uuid.uuid4().hex[:12]}", create_if_not_exists=True)
    try:
        _ten_thousand_files(workspace, store, source_dir, experiment_name, prefix)
    finally:
        store._container.delete_container()


def _ten_thousand_files(workspace: Workspace, store: Datastore, source_dir: Path, experiment_name: str,
                        prefix: str) -> None:
    started = time.monotonic()
    _upload_many(store._container, prefix, FILES)
    uploaded = time.monotonic() - started

    files = Dataset.File.from_files(path=(store, f"{prefix}/**"))
    config = ParallelRunConfig(source_directory=str(source_dir), entry_script="echo.py", mini_batch_size=10,
                               error_threshold=0, output_action="append_row", environment=None,
                               compute_target=None, node_count=1, process_count_per_node=2)
    step = ParallelRunStep("fan-out", config, inputs=[files.as_named_input("files")],
                           output=OutputFileDatasetConfig("scores"), allow_reuse=False)
    run = Pipeline(workspace, [step]).submit(experiment_name)
    status = run.wait_for_completion(show_output=False, timeout_seconds=120, raise_on_error=False)
    ran = time.monotonic() - started - uploaded
    assert status == "Finished", run.get_details()["error"]

    # Every orchestration of the run stays small: the step holds one task per chunk, a chunk at most
    # CHUNK_TASKS slice activities, however many mini-batches there are.
    instances = {s.instance_id: s.name for s in local_instances(prefix=run.id)}
    chunks = [i for i, name in instances.items() if name == "parallel_batches"]
    assert len(chunks) >= 2, instances
    sizes = {i: _tasks(local_history(i)) for i in instances}
    assert max(sizes.values()) <= CHUNK_TASKS, sizes
    assert sum(sizes[i] for i in chunks) < 1000  # slices, not one activity per mini-batch

    # ... and nothing was lost on the way: 1,000 status rows, 10,000 rows in order, the progress.
    rows = BatchStore(workspace.account).rows(run.id, "fan-out", select=["index", "status", "items"])
    assert [r["index"] for r in rows] == list(range(1000))
    assert {r["status"] for r in rows} == {"succeeded"} and sum(r["items"] for r in rows) == FILES
    step_run = run.find_step_run("fan-out")[0]
    ref = step_run.get_output_data("scores")
    text = run._services.container_for(ref.datastore_name).download_blob(
        f"{ref.path_on_datastore}/parallel_run_step.txt").readall().decode()
    assert text.splitlines() == [f"f{i:05d}.txt {i}" for i in range(FILES)]
    progress = step_run._refresh()["progress"]
    assert (progress["total"], progress["processed"], progress["failed"]) == (FILES, FILES, 0)
    print(f"uploaded {FILES} files in {uploaded:.1f} s; ParallelRunStep ran in {ran:.1f} s "
          f"over {len(chunks)} chunks, {sum(sizes[i] for i in chunks)} slices (pid {os.getpid()})")
