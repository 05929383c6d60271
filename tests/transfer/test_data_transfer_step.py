"""DataTransferStep in pipelines with PythonScriptSteps, run locally through the real orchestrator replay.

Real parts only: Azurite for Blob, private PostgreSQL and MariaDB servers. Shown: an
upstream output copied server-side to an ADLS Gen2 datastore and a datastore folder copied into an
output a script reads; reuse keyed on the source's ETags (and on a table's rows); a
PostgreSQL table exported to Parquet and read by a script; a CSV loaded into MariaDB;
a failing transfer failing its step with the reason in the error and the log; cancel stopping
a long export.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy

from pipeline_core import (
    DataReference,
    Datastore,
    DataTransferStep,
    Experiment,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    ValidationError,
    Workspace,
)
from pipeline_core.core.compute import DataFactoryCompute
from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.transfer import engine_for

pytestmark = pytest.mark.integration

MAKE = ("import sys, pathlib\n"
        "out = pathlib.Path(sys.argv[1]); (out / 'part').mkdir(parents=True, exist_ok=True)\n"
        "(out / 'a.txt').write_text('made a'); (out / 'part' / 'b.txt').write_text('made b')\n")
LIST = ("import sys, pathlib\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "for p in sorted(folder.rglob('*')):\n"
        "    if p.is_file():\n"
        "        print(p.relative_to(folder).as_posix(), '=', p.read_text())\n")
READ_PARQUET = ("import sys, pathlib, pandas as pd\n"
                "folder = pathlib.Path(sys.argv[1])\n"
                "frame = pd.read_parquet(folder / 'orders.parquet')\n"
                "print('rows', len(frame), 'total', int(frame['amount'].sum()), 'columns', list(frame.columns))\n")


@pytest.fixture
def landing(workspace: Workspace):  # type: ignore[no-untyped-def]
    """An ADLS Gen2 datastore (a filesystem of the account, reached through its Blob endpoint)."""
    return Datastore.register_azure_data_lake_gen2(workspace, "landing", f"landing-{uuid.uuid4().hex[:8]}",
                                                   overwrite=True)


def test_blob_copies_in_a_pipeline_with_script_steps_are_reused_until_the_source_changes(
        workspace: Workspace, source_dir: Path, experiment_name: str, landing) -> None:  # type: ignore[no-untyped-def]
    (source_dir / "make.py").write_text(MAKE)
    (source_dir / "list.py").write_text(LIST)
    blobs = workspace.get_default_datastore()
    prefix = f"incoming/{uuid.uuid4().hex[:8]}"
    blobs._container.upload_blob(f"{prefix}/x.txt", b"from the datastore")
    blobs._container.upload_blob(f"{prefix}/deep/y.txt", b"deeper")
    shipped = f"shipped/{uuid.uuid4().hex[:8]}"
    adf = DataFactoryCompute(workspace, "adf")

    def pipeline() -> Pipeline:
        made, copied = PipelineData("made"), PipelineData("copied")
        make = PythonScriptStep("make.py", name="make", arguments=[made], outputs=[made],
                                source_directory=str(source_dir))
        ship = DataTransferStep("ship", source_data_reference=made,
                                destination_data_reference=DataReference(landing, path_on_datastore=shipped),
                                compute_target=adf, source_reference_type="directory",
                                destination_reference_type="directory")
        fetch = DataTransferStep("fetch", source_data_reference=DataReference(blobs, path_on_datastore=prefix),
                                 destination_data_reference=copied, compute_target=adf)
        show = PythonScriptStep("list.py", name="list", arguments=[copied], inputs=[copied],
                                source_directory=str(source_dir))
        return Pipeline(workspace, [make, ship, fetch, show])

    first = Experiment(workspace, experiment_name).submit(pipeline())
    assert first.wait_for_completion(show_output=False) == "Finished", first.get_details()
    assert landing._container.download_blob(f"{shipped}/part/b.txt").readall() == b"made b"
    listed = first.find_step_run("list")[0].get_stdout_log()
    assert "x.txt = from the datastore" in listed and "deep/y.txt = deeper" in listed
    fetch_log = first.find_step_run("fetch")[0].get_job_log()
    assert "blob-copy: 2 item(s), 24 bytes" in fetch_log and "server-side" in fetch_log
    details = first.find_step_run("fetch")[0].get_details()
    assert details["outputs"]["copied"]["count"] == 2 and details["target"] == "adf"  # recorded, not used

    again = Experiment(workspace, experiment_name).submit(pipeline())
    assert again.wait_for_completion(show_output=False) == "Finished"
    assert [again.find_step_run(n)[0].is_reused for n in ("make", "ship", "fetch", "list")] == [True] * 4

    blobs._container.upload_blob(f"{prefix}/x.txt", b"changed upstream", overwrite=True)  # a new ETag
    changed = Experiment(workspace, experiment_name).submit(pipeline())
    assert changed.wait_for_completion(show_output=False) == "Finished"
    fetch = changed.find_step_run("fetch")[0]
    assert not fetch.is_reused and changed.find_step_run("ship")[0].is_reused
    assert any(part.startswith("input ") for part in fetch.get_details()["reuse"]["changed"])
    assert "x.txt = changed upstream" in changed.find_step_run("list")[0].get_stdout_log()


def test_a_wrong_transfer_fails_the_step_with_the_reason_in_its_error_and_log(
        workspace: Workspace, source_dir: Path, experiment_name: str) -> None:
    (source_dir / "list.py").write_text(LIST)
    blobs = workspace.get_default_datastore()
    missing = DataTransferStep("fetch", source_data_reference=DataReference(blobs, path_on_datastore="nothing/here"),
                               destination_data_reference=PipelineData("copied"))
    with pytest.raises(ValidationError, match="no blobs found at 'nothing/here'"):  # refused before it runs
        Experiment(workspace, experiment_name).submit(Pipeline(workspace, [missing]))

    prefix = f"folder/{uuid.uuid4().hex[:8]}"
    blobs._container.upload_blob(f"{prefix}/a.txt", b"a")
    blobs._container.upload_blob(f"{prefix}/b.txt", b"b")
    copied = PipelineData("copied")
    fetch = DataTransferStep("fetch", source_data_reference=DataReference(blobs, path_on_datastore=prefix),
                             destination_data_reference=copied, source_reference_type="file")
    show = PythonScriptStep("list.py", name="list", arguments=[copied], inputs=[copied], source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [fetch, show]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    step = run.find_step_run("fetch")[0]
    message = step.get_details()["error"]["message"]
    assert "source_reference_type='file'" in message and "use 'directory' to copy a folder" in message
    assert "[amlite] transfer failed: source_reference_type='file'" in step.get_job_log()
    assert run.find_step_run("list")[0].get_status() == "Canceled"


def test_postgres_table_to_parquet_read_by_a_script_step_reused_until_a_row_changes(
        workspace: Workspace, source_dir: Path, experiment_name: str, postgres_store) -> None:  # type: ignore[no-untyped-def]
    table = f"orders_{uuid.uuid4().hex[:8]}"
    with engine_for(postgres_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} AS SELECT g AS id, g * 2 AS amount "
                                     "FROM generate_series(1, 1000) g"))
    (source_dir / "read.py").write_text(READ_PARQUET)

    def pipeline() -> Pipeline:
        orders = PipelineData("orders")
        export = DataTransferStep("export", source_data_reference=SqlDataReference(
            postgres_store, sql_table=table, data_reference_name="orders.parquet"), destination_data_reference=orders)
        read = PythonScriptStep("read.py", name="read", arguments=[orders], inputs=[orders],
                                source_directory=str(source_dir))
        return Pipeline(workspace, [export, read])

    first = Experiment(workspace, experiment_name).submit(pipeline())
    assert first.wait_for_completion(show_output=False) == "Finished", first.get_details()
    assert "rows 1000 total 1001000 columns ['id', 'amount']" in first.find_step_run("read")[0].get_stdout_log()
    assert "export: 1 item(s), 1000 rows" in first.find_step_run("export")[0].get_job_log()

    again = Experiment(workspace, experiment_name).submit(pipeline())
    assert again.wait_for_completion(show_output=False) == "Finished"
    assert again.find_step_run("export")[0].is_reused and again.find_step_run("read")[0].is_reused

    with engine_for(postgres_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"UPDATE {table} SET amount = amount + 1 WHERE id = 7"))
    changed = Experiment(workspace, experiment_name).submit(pipeline())
    assert changed.wait_for_completion(show_output=False) == "Finished"
    export = changed.find_step_run("export")[0]
    assert not export.is_reused and "input DataTransferStep.source" in export.get_details()["reuse"]["changed"]
    assert "total 1001001" in changed.find_step_run("read")[0].get_stdout_log()


def test_a_script_output_loaded_into_mariadb_then_exported_as_csv(
        workspace: Workspace, source_dir: Path, experiment_name: str, mariadb_store) -> None:  # type: ignore[no-untyped-def]
    table = f"scores_{uuid.uuid4().hex[:8]}"
    (source_dir / "make.py").write_text("import sys, pathlib\n"
                                        "out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)\n"
                                        "(out / 'scores.csv').write_text('name,score\\n' + ''.join(\n"
                                        "    f'p{i},{i}\\n' for i in range(250)))\n")
    (source_dir / "list.py").write_text(LIST)
    blobs = workspace.get_default_datastore()
    made = PipelineData("made")
    csv_out = OutputFileDatasetConfig("csv_out", destination=(blobs, f"exports/{table}/"))
    make = PythonScriptStep("make.py", name="make", arguments=[made], outputs=[made], source_directory=str(source_dir))
    load = DataTransferStep("load", source_data_reference=made,
                            destination_data_reference=SqlDataReference(mariadb_store, sql_table=table))
    dump = DataTransferStep("dump", source_data_reference=SqlDataReference(
        mariadb_store, sql_query=f"SELECT name, score FROM {table} WHERE score >= 200", data_reference_name="top"),
        destination_data_reference=csv_out)
    dump.run_after(load)
    show = PythonScriptStep("list.py", name="list", arguments=[csv_out.as_input()], source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [make, load, dump, show]))
    assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
    with engine_for(mariadb_store) as engine, engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(f"SELECT count(*), sum(score) FROM {table}")).one() == (250, sum(range(250)))
    listed = run.find_step_run("list")[0].get_stdout_log()
    assert "top.csv = name,score" in listed and "p249,249" in listed and "p199," not in listed


def test_cancel_stops_a_long_export_and_leaves_no_file(
        workspace: Workspace, source_dir: Path, experiment_name: str, postgres_store) -> None:  # type: ignore[no-untyped-def]
    (source_dir / "read.py").write_text(READ_PARQUET)
    slow = ("SELECT g AS id, g AS amount FROM generate_series(1, 200000) AS g "
            "WHERE pg_sleep(0.0003)::text = ''")  # about 3 s per chunk of 10,000 rows
    orders = PipelineData("orders")
    export = DataTransferStep("export", source_data_reference=SqlDataReference(
        postgres_store, sql_query=slow, data_reference_name="orders.parquet"), destination_data_reference=orders,
        allow_reuse=False)
    read = PythonScriptStep("read.py", name="read", arguments=[orders], inputs=[orders], source_directory=str(source_dir))
    run = Experiment(workspace, experiment_name).submit(Pipeline(workspace, [export, read]))
    step = None
    deadline = time.monotonic() + 60
    while step is None or step.get_status() != "Running":
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.2)
        found = run.find_step_run("export")
        step = found[0] if found else None
    time.sleep(1.5)
    asked = time.monotonic()
    run.cancel()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Canceled"
    assert time.monotonic() - asked < 20
    assert step.get_status() == "Canceled"
    assert "cancel requested: the transfer was stopped" in step.get_job_log()
    output = step.get_details()["outputs"].get("orders") or {}
    container = Datastore.get(workspace, "pipelinedata")._container
    assert not list(container.list_blobs(name_starts_with=output.get("path") or f"azureml/{run.id}_export/"))


def test_a_stored_procedure_source_is_never_reused(
        workspace: Workspace, experiment_name: str, postgres_store) -> None:  # type: ignore[no-untyped-def]
    function = f"recent_{uuid.uuid4().hex[:8]}"
    with engine_for(postgres_store) as engine, engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE FUNCTION {function}(n integer) RETURNS TABLE(id integer) "
                                     "AS $$ SELECT g FROM generate_series(1, n) g $$ LANGUAGE SQL"))

    def pipeline() -> Pipeline:
        return Pipeline(workspace, [DataTransferStep("call", source_data_reference=SqlDataReference(
            postgres_store, sql_stored_procedure=function, sql_stored_procedure_params=[5],
            data_reference_name="recent"), destination_data_reference=PipelineData("recent"))])

    for _ in range(2):
        run = Experiment(workspace, experiment_name).submit(pipeline())
        assert run.wait_for_completion(show_output=False) == "Finished", run.get_details()
        step = run.find_step_run("call")[0]
        assert not step.is_reused and "export: 1 item(s), 5 rows" in step.get_job_log()
    assert "input DataTransferStep.source" in step.get_details()["reuse"]["changed"]
