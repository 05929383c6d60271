"""The executor of ``DataTransferStep``: the two endpoints resolved, the transfer run, its outputs recorded.

The transfer itself is ``pipeline_core.transfer`` (server-side Blob copies, database
exports and loads); this module turns the step's spec entry into its endpoints,
logs progress (at most every ``PROGRESS_SECONDS``, and at 100 %), stops on cancel and
at the step's time limit, tags
what it writes with the attempt, and records a PipelineData destination as the
step's output without its bytes passing through the worker. Reuse: a Blob source
is an input of the step (its ETags are in the key); a database source's rows are
checksummed by ``transfer_identity``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, cast

from pipeline_core.data.sql_data_reference import SqlDataReference
from pipeline_core.engine.step_context import StepContext
from pipeline_core.errors import AmliteError, StepStopped
from pipeline_core.execution.binding import DatasetLocation
from pipeline_core.execution.process import STOPPED_CANCELED, STOPPED_SUPERSEDED, STOPPED_TIMEOUT
from pipeline_core.storage.run_store import CANCELED
from pipeline_core.transfer.data_transfer import (
    Endpoint,
    SqlEndpoint,
    blob_endpoint,
    sql_endpoint,
    transfer_between,
)
from pipeline_core.transfer.sql import database_identity

#: Seconds between progress lines of a long transfer (the first and the 100 % line always show).
PROGRESS_SECONDS = 10.0
#: The transfer's running-progress lines (the others -- what was copied, where -- are always logged).
_PROGRESS_LINE = re.compile(r"^(copied \d+ of \d+ bytes|exported \d+ rows$|loaded \d+ rows$)")


def _sql_reference(entry: dict[str, Any]) -> SqlDataReference:
    return SqlDataReference(entry["datastore"], data_reference_name=entry.get("name") or None,
                            sql_table=entry.get("sql_table"), sql_query=entry.get("sql_query"),
                            sql_stored_procedure=entry.get("sql_stored_procedure"),
                            sql_stored_procedure_params=entry.get("sql_stored_procedure_params"))


def _entry(ctx: StepContext) -> dict[str, Any]:
    """The step's spec entry with this kind's own fields (``source``, ``destination``, reference types)."""
    return cast(dict[str, Any], ctx.step)


def _endpoint(ctx: StepContext, field: str) -> Endpoint:
    """The step's source or destination as a Blob path or a database (the spec entry's ``data`` or ``sql``)."""
    value = _entry(ctx)[field]
    workspace = ctx.services.workspace
    if "sql" in value:
        return sql_endpoint(workspace, _sql_reference(value["sql"]))
    data_id = value["data"]
    if data_id in ctx.step["outputs"]:
        loc = ctx.output_location(data_id)
    elif data_id in ctx.inputs:
        loc = ctx.inputs[data_id]
        if isinstance(loc, DatasetLocation):
            raise AmliteError(f"DataTransferStep {ctx.name!r}: a dataset cannot be its {field}; pass a DataReference "
                              "or DataPath of the files (dataset.to_path() names them)")
    else:  # a DataReference destination: a place on a datastore, neither an input nor an output
        entry = ctx.spec.data.get(data_id)
        if field != "destination" or entry is None or entry.get("kind") != "data_reference" \
                or not isinstance(entry.get("datastore"), str):
            raise AmliteError(f"DataTransferStep {ctx.name!r}: {field} names data {data_id!r}, which is not "
                              + ("one of the step's inputs" if field == "source" else
                                 "one of its outputs nor a DataReference") + "; rebuild the pipeline with the SDK")
        return blob_endpoint(workspace, str(entry["datastore"]), entry.get("path"))
    return blob_endpoint(workspace, loc.datastore, loc.path)


def _progress(ctx: StepContext, deadline: float) -> Callable[[str], None]:
    """The transfer's log sink: the first and last lines and, between, one every PROGRESS_SECONDS.

    It is called after each poll of a pending copy and each chunk of rows, so it is also where a
    long transfer notices a cancel (one storage read a second at most) or its time limit, and stops
    it: a pending copy is aborted, an export leaves no blob, a load rolls back.
    """
    last = [0.0, time.monotonic()]

    def say(line: str) -> None:
        now = time.monotonic()
        final = "(100%)" in line or not _PROGRESS_LINE.match(line)
        if final or now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            ctx.log.note(f"[transfer] {line}")
        if now > deadline:
            raise StepStopped(STOPPED_TIMEOUT)
        if now - last[1] >= 1.0:
            last[1] = now
            reason = ctx.stop_reason()
            if reason:
                raise StepStopped(reason)
    return say


def run_transfer(ctx: StepContext) -> dict[str, Any]:
    step = _entry(ctx)
    source_type, destination_type = step.get("source_reference_type"), step.get("destination_reference_type")
    output = (step.get("destination") or {}).get("data")
    if output in ctx.step["outputs"] and destination_type is None and \
            "." not in ctx.output_location(output).path.rsplit("/", 1)[-1]:
        destination_type = "directory"  # an output is a folder, as in AML, unless its path names a file
    timeout, limit = ctx.timeout()
    started = time.monotonic()
    try:
        src, dst = _endpoint(ctx, "source"), _endpoint(ctx, "destination")
        ctx.log.note(f"[amlite] step {ctx.name!r} of run {ctx.run_id}: {_describe(src)} -> {_describe(dst)}")
        result = transfer_between(src, dst, source_reference_type=source_type,
                                  destination_reference_type=destination_type,
                                  log=_progress(ctx, started + timeout), metadata=ctx.output_metadata())
    except StepStopped as stop:
        if stop.reason == STOPPED_SUPERSEDED:  # the newer attempt owns the outputs and the result
            return ctx.await_newer_attempt(timeout)
        if stop.reason == STOPPED_CANCELED:
            ctx.log.note("[amlite] cancel requested: the transfer was stopped")
            return ctx.end(CANCELED, {"outputs": ctx.record_outputs({}),
                                      "error": {"message": "canceled while transferring"}})
        message = f"transfer timed out after {timeout:g} s ({limit}) and was stopped"
        ctx.log.note(f"[amlite] {message}")
        ctx.record_outputs({})
        ctx.raise_if_retries_left(message)
        return ctx.fail(message, timed_out=True)
    except Exception as exc:  # noqa: BLE001 - a storage or database error is the step's failure, said in its log
        message = f"transfer failed: {exc}" if isinstance(exc, AmliteError) else \
            f"transfer failed: {type(exc).__name__}: {exc}"
        ctx.log.note(f"[amlite] {message}")
        ctx.record_outputs({})
        ctx.raise_if_retries_left(message)
        return ctx.fail(message)
    seconds = time.monotonic() - started
    ctx.log.note(f"[amlite] {result.kind}: {len(result.destinations)} item(s), "
                 + (f"{result.bytes} bytes" if result.kind == "blob-copy" else f"{result.rows} rows")
                 + f" in {seconds:.2f} s")
    counts = {d: len(result.destinations) for d in ctx.step["outputs"]}
    ctx.record_outputs(counts)
    return ctx.finish(transfer_kind=result.kind, transfer_bytes=result.bytes, transfer_rows=result.rows,
                      transfer_items=len(result.destinations), transfer_seconds=round(seconds, 3))


def _describe(endpoint: Endpoint) -> str:
    if isinstance(endpoint, SqlEndpoint):
        ref = endpoint.reference
        what = f"table {ref.sql_table}" if ref.sql_table else (
            f"procedure {ref.sql_stored_procedure}" if ref.sql_stored_procedure else "a query")
        return f"{endpoint.datastore.name} ({what})"
    return f"{endpoint.datastore_name}/{endpoint.path}"


def transfer_identity(ctx: StepContext) -> Any:
    """The reuse identity of a database source (a checksum of its rows); a Blob source needs none (an input)."""
    source = _entry(ctx).get("source") or {}
    if "sql" not in source:
        return {"blob": "the source input's ETags"}
    if not ctx.step.get("allow_reuse", True) or ctx.run.get("regenerate_outputs"):
        return {"sql": "not reused"}  # never matched: spare the database a checksum (a query: a full read)
    try:
        endpoint = sql_endpoint(ctx.services.workspace, _sql_reference(source["sql"]))
        return database_identity(endpoint.reference, endpoint.datastore)
    except AmliteError:
        raise
    except Exception as exc:  # noqa: BLE001 - the database is down or refuses us: the step fails saying so
        raise AmliteError(f"DataTransferStep {ctx.name!r}: cannot read the source database to decide reuse: "
                          f"{type(exc).__name__}: {exc}") from exc
