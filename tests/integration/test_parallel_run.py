"""ParallelRunStep end to end on Azurite: real worker processes, real batches, the three failure limits."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipeline_core import Pipeline, PipelineParameter, Workspace
from pipeline_core.core.dataset import Dataset
from pipeline_core.data import OutputFileDatasetConfig
from pipeline_core.engine.services import services_for
from pipeline_core.parallel.activities import prs_finish, prs_prepare, prs_run_slice
from pipeline_core.parallel.batches import BatchStore
from pipeline_core.pipeline.core.run import PipelineRun
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep

pytestmark = pytest.mark.integration

# Behaviour is chosen by file content: FAIL always raises, FLAKY raises on its first try only,
# SLEEP hangs on its first try only, SKIP is left out of the results (a failed item, not a failed batch).
FILE_SCRIPT = """
import argparse, os, pathlib, time, uuid
from azureml_user.parallel_run import EntryScript

parser = argparse.ArgumentParser()
parser.add_argument("--marks")
args, _ = parser.parse_known_args()
marks = pathlib.Path(args.marks)

def init():
    marks.mkdir(parents=True, exist_ok=True)
    (marks / f"init-{os.getpid()}-{uuid.uuid4().hex[:6]}").write_text("")
    EntryScript().logger.info("init done in %s", os.getpid())
    out = pathlib.Path(EntryScript().output_dir, "by-init")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{os.getpid()}.txt").write_text("written in init")

def run(mini_batch):
    (marks / f"run-{os.getpid()}-{uuid.uuid4().hex[:6]}").write_text("\\n".join(mini_batch))
    results = []
    for path in mini_batch:
        name = os.path.basename(path)
        text = pathlib.Path(path).read_text()
        first = not (marks / f"seen-{name}").exists()
        (marks / f"seen-{name}").write_text("")
        if "FAIL" in text:
            raise ValueError(f"cannot score {name}")
        if "FLAKY" in text and first:
            raise RuntimeError(f"flaky {name}")
        if "SLEEP" in text and first:
            time.sleep(60)
        if "SKIP" in text:
            continue
        results.append(f"{pathlib.Path(path).parent.name} {name}")
    return results
"""

TABLE_SCRIPT = """
import os, pathlib, sys
import pandas as pd

def init():
    pass

def run(mini_batch):
    assert isinstance(mini_batch, pd.DataFrame), type(mini_batch)
    return mini_batch.assign(double=mini_batch["value"] * 2)[["id", "double"]]
"""


def _upload(ws: Workspace, tmp_path: Path, files: dict[str, str | bytes]) -> str:
    prefix = f"prs-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / prefix
    for name, body in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode() if isinstance(body, str) else body)
    ws.get_default_datastore().upload(str(folder), target_path=prefix, show_progress=False)
    return prefix


def _config(src: Path, script: str = "score.py", **kwargs: Any) -> ParallelRunConfig:
    values: dict[str, Any] = {"environment": None, "entry_script": script, "error_threshold": -1,
                              "output_action": "append_row", "compute_target": None, "node_count": 1,
                              "process_count_per_node": 2, "source_directory": str(src), "run_max_try": 1}
    values.update(kwargs)
    return ParallelRunConfig(**values)


def _run(ws: Workspace, experiment: str, step: ParallelRunStep, **params: Any) -> tuple[PipelineRun, str]:
    run = Pipeline(ws, [step]).submit(experiment, pipeline_parameters=params or None)
    status = run.wait_for_completion(show_output=False, timeout_seconds=120, raise_on_error=False)
    return run, status


def _lines(run: PipelineRun, step: str, name: str = "parallel_run_step.txt") -> list[str]:
    step_run = run.find_step_run(step)[0]
    ref = step_run.get_output_data("scores")
    blob = run._services.container_for(ref.datastore_name).download_blob(f"{ref.path_on_datastore}/{name}")
    return blob.readall().decode().splitlines()


def _marks(folder: Path, kind: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f"{kind}-*"))


@pytest.fixture
def src(source_dir: Path) -> Path:
    (source_dir / "score.py").write_text(FILE_SCRIPT)
    (source_dir / "table.py").write_text(TABLE_SCRIPT)
    return source_dir


def test_file_batches_append_row_and_init_once_per_worker(workspace: Workspace, src: Path, tmp_path: Path,
                                                          experiment_name: str) -> None:
    prefix = _upload(workspace, tmp_path, {f"in/f{i:02d}.txt": "ok" for i in range(23)})
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    marks = tmp_path / "marks"
    output = OutputFileDatasetConfig("scores")
    batch = PipelineParameter("batch", 4)
    step = ParallelRunStep("score-files", _config(src, mini_batch_size=batch), inputs=[ds.as_named_input("docs")],
                           output=output, arguments=["--marks", str(marks)])
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    lines = _lines(run, "score-files")
    assert sorted(line.split()[1] for line in lines) == [f"f{i:02d}.txt" for i in range(23)]
    inits, runs = _marks(marks, "init"), _marks(marks, "run")
    init_pids = [m.split("-")[1] for m in inits]
    assert len(set(init_pids)) == len(init_pids) <= 2  # init() once per worker process
    assert {m.split("-")[1] for m in runs} <= set(init_pids)
    assert len(runs) == 6  # 23 files in batches of 4
    row = run.find_step_run("score-files")[0]._refresh()
    assert row["progress"]["processed"] == 23 and row["progress"]["batches"] == 6
    user_logs = [b.name for b in run._services.account.container("logs").list_blobs(
        name_starts_with=f"{run.id}/score-files/user/")]
    assert user_logs and "init done" in run._services.account.container("logs").download_blob(
        user_logs[0]).readall().decode()
    assert "6 of 6 mini-batches ran" in run.find_step_run("score-files")[0].get_job_log()
    ref = run.find_step_run("score-files")[0].get_output_data("scores")
    written = {b.name.rsplit("/", 1)[-1] for b in run._services.container_for(ref.datastore_name).list_blobs(
        name_starts_with=f"{ref.path_on_datastore}/by-init/")}
    assert written == {f"{pid}.txt" for pid in init_pids}  # EntryScript().output_dir lands in the output

    # Redelivered activities return what was recorded and change nothing.
    services = run._services
    again = prs_run_slice(services, run.id, "score-files", 0, 6)
    assert (again["status"], again["completed"], again["items"], again["next"]) == ("done", 6, 23, 6)
    assert prs_prepare(services, run.id, "score-files") == {"done": True, "result": {
        "step": "score-files", "status": "Finished", "reused": False, "error": None}}
    assert prs_finish(services, run.id, "score-files", {})["status"] == "Finished"
    assert len(_marks(marks, "run")) == 6

    # The same step with the parameter changed is a different step (no reuse); unchanged, it is reused.
    rerun, status = _run(workspace, experiment_name, step, batch=12)
    assert status == "Finished" and len(_marks(marks, "run")) == 8
    reused, status = _run(workspace, experiment_name, step, batch=12)
    assert status == "Finished" and reused.find_step_run("score-files")[0].is_reused


def test_a_redelivered_slice_runs_only_what_is_not_recorded(workspace: Workspace, src: Path, tmp_path: Path,
                                                            experiment_name: str) -> None:
    from pipeline_core.parallel import worker

    prefix = _upload(workspace, tmp_path, {f"in/f{i}.txt": "ok" for i in range(6)})
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    marks = tmp_path / "marks"
    step = ParallelRunStep("redeliver", _config(src, mini_batch_size=1), inputs=[ds.as_named_input("docs")],
                           output=OutputFileDatasetConfig("scores"), arguments=["--marks", str(marks)],
                           allow_reuse=False)
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished" and len(_marks(marks, "run")) == 6
    store = BatchStore(workspace.account)
    first = {int(r["index"]): r for r in store.rows(run.id, "redeliver")}

    # As if the first delivery of slice [0, 6) had died before recording mini-batches 1 and 4.
    for index in (1, 4):
        store.table.delete_entity(f"{run.id}|redeliver", f"{index:08d}")
    key = (run._services.storage, run.id, "redeliver")
    worker._closed.discard(key)  # the step finished on this host; pretend this host never saw that
    try:
        again = prs_run_slice(run._services, run.id, "redeliver", 0, 6)
    finally:
        worker.close_pool(key)
    assert (again["status"], again["completed"], again["succeeded_batches"]) == ("done", 6, 6)
    assert len(_marks(marks, "run")) == 8  # only the two unrecorded mini-batches ran again
    rows = {int(r["index"]): r for r in store.rows(run.id, "redeliver")}
    assert sorted(rows) == list(range(6))
    assert all(rows[i]["token"] == first[i]["token"] for i in (0, 2, 3, 5))  # recorded results stand
    assert rows[1]["token"] == rows[4]["token"] != first[1]["token"]

    # Rows are created, never replaced: recording a mini-batch again fails as a whole and changes nothing.
    assert not store.record([store.entity(run.id, "redeliver", 6, {"status": "failed"}),
                             store.entity(run.id, "redeliver", 2, {"status": "failed"})])
    assert store.get(run.id, "redeliver", 2)["status"] == "succeeded" and store.get(run.id, "redeliver", 6) is None


def test_limits_retries_and_timeout(workspace: Workspace, src: Path, tmp_path: Path, experiment_name: str) -> None:
    files = {f"in/f{i}.txt": "ok" for i in range(6)}
    files.update({"in/f6.txt": "FLAKY", "in/f7.txt": "SKIP", "in/f8.txt": "FAIL", "in/f9.txt": "FAIL"})
    prefix = _upload(workspace, tmp_path, files)
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    output = OutputFileDatasetConfig("scores")
    threshold = PipelineParameter("threshold", 3)
    failed_count = PipelineParameter("failed_count", 2)
    percent = PipelineParameter("percent", 20.0)

    def step(marks: Path) -> ParallelRunStep:
        config = _config(src, mini_batch_size=1, run_max_try=2, error_threshold=threshold,
                         allowed_failed_count=failed_count, allowed_failed_percent=percent)
        return ParallelRunStep("limits", config, inputs=[ds.as_named_input("docs")], output=output,
                               arguments=["--marks", str(marks)], allow_reuse=False)

    # Nothing trips: 3 failed items (2 failed batches + 1 skipped item) <= 3; 2 failed batches <= 2 (the flaky
    # batch succeeded on its retry, so it does not count); 2 of 10 batches = 20% <= 20%.
    run, status = _run(workspace, experiment_name, step(tmp_path / "m1"))
    assert status == "Finished", run.get_details()["error"]
    assert len(_lines(run, "limits")) == 7  # one row per successful item
    rows = {int(r["index"]): r for r in BatchStore(workspace.account).rows(run.id, "limits")}
    assert rows[6]["status"] == "succeeded" and rows[6]["tries"] == 2 and "flaky f6.txt" in rows[6]["error"]
    assert rows[8]["status"] == "failed" and rows[8]["tries"] == 2 and "cannot score f8.txt" in rows[8]["error"]
    assert "Traceback" in rows[8]["traceback"] and "f8.txt" in rows[8]["inputs"]
    progress = run.find_step_run("limits")[0]._refresh()["progress"]
    assert (progress["failed_batches"], progress["retried_batches"], progress["failed"]) == (2, 1, 3)

    # error_threshold trips on failed items (3 > 2).
    run, status = _run(workspace, experiment_name, step(tmp_path / "m2"), threshold=2)
    assert status == "Failed"
    message = run.get_details()["error"]["message"]
    assert "error_threshold exceeded: 3 failed items (files or rows) > error_threshold=2" in message
    assert "cannot score f8.txt" in message

    # allowed_failed_count trips on failed batches (2 > 1).
    run, status = _run(workspace, experiment_name, step(tmp_path / "m4"), threshold=-1, failed_count=1)
    assert status == "Failed"
    assert "allowed_failed_count exceeded: 2 failed mini-batches > allowed_failed_count=1" in \
        run.get_details()["error"]["message"]

    # allowed_failed_percent trips once every batch ran (20% > 15%).
    run, status = _run(workspace, experiment_name, step(tmp_path / "m6"), threshold=-1, percent=15)
    assert status == "Failed"
    assert "allowed_failed_percent exceeded: 2 of 10 mini-batches failed (20.0%) > allowed_failed_percent=15%" \
        in run.get_details()["error"]["message"]


def test_run_invocation_timeout_restarts_the_worker(workspace: Workspace, src: Path, tmp_path: Path,
                                                    experiment_name: str) -> None:
    prefix = _upload(workspace, tmp_path, {"in/a.txt": "SLEEP", "in/b.txt": "ok"})
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    marks = tmp_path / "marks"
    config = _config(src, mini_batch_size=1, run_max_try=2, run_invocation_timeout=1, process_count_per_node=1,
                     error_threshold=0)
    step = ParallelRunStep("timeout", config, inputs=[ds.as_named_input("docs")],
                           output=OutputFileDatasetConfig("scores"), arguments=["--marks", str(marks)])
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    row = BatchStore(workspace.account).rows(run.id, "timeout")[0]
    assert row["status"] == "succeeded" and row["tries"] == 2
    assert "did not return within run_invocation_timeout=1 s" in row["error"]
    assert len(_marks(marks, "init")) == 2  # the stuck worker was replaced, and its successor ran init()
    assert len(_lines(run, "timeout")) == 2


def test_partition_keys_one_batch_per_key(workspace: Workspace, src: Path, tmp_path: Path,
                                          experiment_name: str) -> None:
    files = {f"by/{store}/{i}.txt": "ok" for store, n in (("north", 3), ("south", 2), ("west", 1)) for i in range(n)}
    prefix = _upload(workspace, tmp_path, files)
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/by/**"),
                                 partition_format="/{store}/{n}.txt")
    marks = tmp_path / "marks"
    step = ParallelRunStep("by-store", _config(src, partition_keys=["store"]), inputs=[ds.as_named_input("docs")],
                           output=OutputFileDatasetConfig("scores"), arguments=["--marks", str(marks)])
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    batches = sorted(sorted(Path(line).parent.name for line in (marks / m).read_text().splitlines())
                     for m in _marks(marks, "run"))
    assert batches == [["north"] * 3, ["south"] * 2, ["west"]]
    assert len(_lines(run, "by-store")) == 6


def test_run_receives_the_mini_batch_context_when_it_asks(workspace: Workspace, src: Path, tmp_path: Path,
                                                          experiment_name: str) -> None:
    (src / "with_context.py").write_text(
        "def run(mini_batch, mini_batch_context):\n"
        "    key = mini_batch_context.partition_key_value['store']\n"
        "    return [f'{mini_batch_context.minibatch_index} {key} {len(mini_batch)}']\n")
    files = {f"by/{store}/{i}.txt": "ok" for store, n in (("north", 2), ("south", 1)) for i in range(n)}
    prefix = _upload(workspace, tmp_path, files)
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/by/**"),
                                 partition_format="/{store}/{n}.txt")
    step = ParallelRunStep("ctx", _config(src, script="with_context.py", partition_keys=["store"]),
                           inputs=[ds.as_named_input("docs")], output=OutputFileDatasetConfig("scores"))
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    assert sorted(line.split(" ", 1)[1] for line in _lines(run, "ctx")) == ["north 2", "south 1"]
    assert sorted(line.split()[0] for line in _lines(run, "ctx")) == ["0", "1"]


def test_tabular_csv_and_parquet_batches(workspace: Workspace, src: Path, tmp_path: Path,
                                         experiment_name: str) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = "id,value,note\n" + "".join(f"{i},{i % 7},row number {i} padded to be long\n" for i in range(200))
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"id": range(300, 390), "value": range(90)})), buffer,
                   row_group_size=30)
    prefix = _upload(workspace, tmp_path, {"csv/a.csv": csv, "csv/b.csv": "id,value,note\n1000,1,x\n",
                                           "pq/p.parquet": buffer.getvalue()})
    store = workspace.get_default_datastore()
    table = Dataset.Tabular.from_delimited_files(path=(store, f"{prefix}/csv/*.csv"))
    assert len(table.to_pandas_dataframe()) == 201
    step = ParallelRunStep("score-csv", _config(src, script="table.py", mini_batch_size="2KB"),
                           inputs=[table.as_named_input("rows")], output=OutputFileDatasetConfig("scores"))
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    lines = _lines(run, "score-csv")
    assert sorted(int(line.split()[0]) for line in lines) == [*range(200), 1000]  # every row exactly once
    assert len(BatchStore(workspace.account).rows(run.id, "score-csv")) > 3  # a.csv was cut into slices

    parquet = Dataset.Tabular.from_parquet_files(path=(store, f"{prefix}/pq/p.parquet"))
    step = ParallelRunStep("score-pq", _config(src, script="table.py", mini_batch_size=1),
                           inputs=[parquet.as_named_input("rows")], output=OutputFileDatasetConfig("scores"),
                           allow_reuse=False)
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    assert sorted(int(line.split()[0]) for line in _lines(run, "score-pq")) == list(range(300, 390))
    rows = BatchStore(workspace.account).rows(run.id, "score-pq")
    assert [r["items"] for r in rows] == [30, 30, 30]  # one row group per batch


def test_tabular_transformations_reach_the_workers(workspace: Workspace, src: Path, tmp_path: Path,
                                                  experiment_name: str) -> None:
    """keep_columns/filter apply to every mini-batch; take picks rows of the whole table, so it is refused."""
    csv = "id,value,note\n" + "".join(f"{i},{i % 4},n{i}\n" for i in range(40))
    prefix = _upload(workspace, tmp_path, {"t/a.csv": csv})
    table = Dataset.Tabular.from_delimited_files(path=(workspace.get_default_datastore(), f"{prefix}/t/*.csv"))
    chosen = table.filter(table["value"] == 3).drop_columns("note")
    step = ParallelRunStep("filtered", _config(src, script="table.py", mini_batch_size="200"),
                           inputs=[chosen.as_named_input("rows")], output=OutputFileDatasetConfig("scores"))
    run, status = _run(workspace, experiment_name, step)
    assert status == "Finished", run.get_details()["error"]
    assert sorted(int(line.split()[0]) for line in _lines(run, "filtered")) == list(range(3, 40, 4))

    step = ParallelRunStep("first-five", _config(src, script="table.py"),
                           inputs=[table.take(5).as_named_input("rows")], output=OutputFileDatasetConfig("scores"))
    run, status = _run(workspace, experiment_name, step)
    assert status == "Failed"
    assert "uses take, which pick rows of the whole table" in str(run.find_step_run("first-five")[0].get_details())


def test_summary_only_and_failing_init(workspace: Workspace, src: Path, tmp_path: Path,
                                       experiment_name: str) -> None:
    (src / "broken.py").write_text("def init():\n    raise RuntimeError('no model here')\n\n"
                                   "def run(batch):\n    return batch\n")
    prefix = _upload(workspace, tmp_path, {"in/a.txt": "ok"})
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    step = ParallelRunStep("broken-init", _config(src, script="broken.py", output_action="summary_only",
                                                  error_threshold=0, run_max_try=2),
                           inputs=[ds.as_named_input("docs")])
    run, status = _run(workspace, experiment_name, step)
    assert status == "Failed"
    message = run.get_details()["error"]["message"]
    assert "error_threshold exceeded" in message and "init() failed: RuntimeError: no model here" in message
    detail = json.loads(json.dumps(run.find_step_run("broken-init")[0].get_details()["error"]))
    assert detail["first_failure"]["inputs"][0].endswith("in/a.txt")
    assert services_for(workspace.storage).runs.get_step(run.id, "broken-init")["progress"]["failed"] == 1


def test_tabular_init_failure_counts_rows_and_never_finishes(workspace: Workspace, src: Path, tmp_path: Path,
                                                             experiment_name: str) -> None:
    """AML counts a failed tabular mini-batch's rows against error_threshold; init() failing fails every row."""
    (src / "no_model.py").write_text("def init():\n    raise RuntimeError('model not found')\n\n"
                                     "def run(frame):\n    return list(frame['id'])\n")
    csv = "id,note\n" + "".join(f"{i},row {i} of a table long enough to need several batches\n" for i in range(120))
    prefix = _upload(workspace, tmp_path, {"t/a.csv": csv})
    table = Dataset.Tabular.from_delimited_files(path=(workspace.get_default_datastore(), f"{prefix}/t/a.csv"))
    step = ParallelRunStep("no-model", _config(src, script="no_model.py", mini_batch_size="2KB", error_threshold=50,
                                               run_max_try=1),
                           inputs=[table.as_named_input("rows")], output=OutputFileDatasetConfig("scores"))
    run, status = _run(workspace, experiment_name, step)
    assert status == "Failed"
    progress = services_for(workspace.storage).runs.get_step(run.id, "no-model")["progress"]
    assert progress["failed"] == 120 and progress["succeeded"] == 0  # rows, not one item per mini-batch
    assert "error_threshold exceeded: 120 failed items" in run.get_details()["error"]["message"]

    lenient = ParallelRunStep("no-model-lenient", _config(src, script="no_model.py", mini_batch_size="2KB",
                                                          error_threshold=-1, run_max_try=1),
                              inputs=[table.as_named_input("rows")], output=OutputFileDatasetConfig("scores"))
    run, status = _run(workspace, experiment_name, lenient)
    assert status == "Failed"  # no limit, but nothing succeeded: never Finished
    assert "every mini-batch failed" in run.get_details()["error"]["message"]


MAKE_SCRIPT = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--out")
a = p.parse_args()
out = pathlib.Path(a.out)
out.mkdir(parents=True, exist_ok=True)
for n in range(3):
    rows = "".join(f"{n * 10 + i},{i}\\n" for i in range(5))
    (out / f"part-{n}.csv").write_text("id,value\\n" + rows)
"""

CHAIN_SCRIPT = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--model")
args, _ = p.parse_known_args()
factor = None

def init():
    global factor
    factor = int(pathlib.Path(args.model, "factor.txt").read_text())

def run(frame):
    return [f"{i} {v * factor}" for i, v in zip(frame["id"], frame["value"])]
"""


def test_upstream_output_as_tabular_input_with_a_side_input(workspace: Workspace, src: Path, tmp_path: Path,
                                                            experiment_name: str) -> None:
    from pipeline_core import PythonScriptStep

    (src / "make.py").write_text(MAKE_SCRIPT)
    (src / "chain.py").write_text(CHAIN_SCRIPT)
    prefix = _upload(workspace, tmp_path, {"model/factor.txt": "3"})
    model = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/model/**"))
    made = OutputFileDatasetConfig("made")
    make = PythonScriptStep("make.py", name="make", source_directory=str(src), arguments=["--out", made])
    score = ParallelRunStep("chain", _config(src, script="chain.py", mini_batch_size="1MB"),
                            inputs=[made.read_delimited_files()], output=OutputFileDatasetConfig("scores"),
                            side_inputs=[model.as_named_input("model")],
                            arguments=["--model", model.as_named_input("model").as_mount()])
    run = Pipeline(workspace, [make, score]).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=120, raise_on_error=False) == "Finished", \
        run.get_details()["error"]
    lines = sorted(_lines(run, "chain"), key=lambda line: int(line.split()[0]))
    assert lines == [f"{n * 10 + i} {i * 3}" for n in range(3) for i in range(5)]
    assert [r["items"] for r in BatchStore(workspace.account).rows(run.id, "chain")] == [5, 5, 5]


def test_cancel_stops_the_workers(workspace: Workspace, src: Path, tmp_path: Path, experiment_name: str) -> None:
    import time

    prefix = _upload(workspace, tmp_path, {"in/a.txt": "SLEEP", "in/b.txt": "SLEEP"})
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    marks = tmp_path / "marks"
    step = ParallelRunStep("cancel-me", _config(src, mini_batch_size=1, run_invocation_timeout=120),
                           inputs=[ds.as_named_input("docs")], output=OutputFileDatasetConfig("scores"),
                           arguments=["--marks", str(marks)])
    run = Pipeline(workspace, [step]).submit(experiment_name)
    deadline = time.monotonic() + 30
    while len(_marks(marks, "run")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(m.split("-")[1]) for m in _marks(marks, "init")]
    assert len(pids) == 2
    run.cancel()
    assert run.wait_for_completion(show_output=False, timeout_seconds=30, raise_on_error=False) == "Canceled"
    assert run.find_step_run("cancel-me")[0].get_status() == "Canceled"
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]  # killed and reaped, none left behind


SLOW_SCRIPT = """
import os, pathlib, time

def init():
    pass

def run(mini_batch):
    time.sleep(0.25)
    for path in mini_batch:
        if "FAIL" in pathlib.Path(path).read_text():
            raise ValueError("cannot score " + os.path.basename(path))
    return [os.path.basename(p) for p in mini_batch]
"""


def test_progress_shows_while_running_in_details_follow_bar_and_cli(
        workspace: Workspace, src: Path, tmp_path: Path, experiment_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Processed/failed/total move while the step runs: StepRun.get_details(), the follow bar, `amlite show`."""
    import threading
    import time

    from rich.console import Console

    from amlite_cli import commands as cli
    from pipeline_core import progress as follow_module

    monkeypatch.setenv("AMLITE_PRS_REPORT_SECONDS", "0.2")
    monkeypatch.setenv("AMLITE_PRS_FLUSH_SECONDS", "0.2")
    (src / "slow.py").write_text(SLOW_SCRIPT)
    files: dict[str, str | bytes] = {f"in/f{i:02d}.txt": "ok" for i in range(12)}
    files["in/f05.txt"] = "FAIL"
    prefix = _upload(workspace, tmp_path, files)
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/in/**"))
    step = ParallelRunStep("slow-score", _config(src, "slow.py", mini_batch_size="1", process_count_per_node=1),
                           inputs=[ds.as_named_input("docs")], output=OutputFileDatasetConfig("scores"))
    run = Pipeline(workspace, [step]).submit(experiment_name)
    seen: list[dict[str, Any]] = []

    def sample() -> None:
        while True:
            steps = run.find_step_run("slow-score")
            details = steps[0].get_details() if steps else {}
            if details.get("progress"):
                seen.append(details["progress"])
            if details.get("status") in ("Finished", "Failed", "Canceled"):
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    screen = io.StringIO()
    monkeypatch.setattr(follow_module, "console", Console(file=screen, width=160))
    status = run.wait_for_completion(show_output=True, timeout_seconds=120, raise_on_error=False)
    sampler.join(30)
    assert status == "Finished", run.get_details()["error"]
    final = run.find_step_run("slow-score")[0].get_details()["progress"]
    assert (final["total"], final["processed"], final["succeeded"], final["failed"]) == (12, 12, 11, 1)
    assert (final["batches"], final["finished_batches"], final["failed_batches"]) == (12, 12, 1)
    assert any(0 < p["processed"] < 12 for p in seen), seen  # counts moved while the step ran
    assert "12/12 items; failed: 1 items, 1 mini-batches" in screen.getvalue()

    monkeypatch.setenv("AMLITE_STORAGE", workspace.storage)
    monkeypatch.delenv("AMLITE_ENDPOINT", raising=False)
    monkeypatch.chdir(tmp_path)
    table = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=table, width=240))
    assert cli.main(["show", run.id]) == 0
    assert "12 of 12 items processed, 1 failed; 12 of 12 mini-batches finished, 1 failed" in table.getvalue()
