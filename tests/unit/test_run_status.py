"""One spelling of a run status: every layer takes it from ``pipeline_core.status.RunStatus``."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from pipeline_core.engine import planner
from pipeline_core.rest.api import openapi_document
from pipeline_core.rest.runs.entities import run_entity
from pipeline_core.status import TERMINAL, RunStatus
from pipeline_core.storage import run_store
from pipeline_core.storage.run_store import _encode, decode

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline_core"
#: The one place a status string may be written out.
OWNER = PACKAGE / "status.py"
#: "Failed" is also the name of a ParallelRunStep item counter in REST bodies: a count, not a status.
COUNTER_LABELS = {("rest/runs/entities.py", "Failed"), ("rest/runs/schemas.py", "Failed"),
                  # the Durable runtime's own status names (OrchestrationRuntimeStatus), not a run's
                  ("engine/stale_runs.py", "Failed"), ("engine/stale_runs.py", "Canceled")}


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_no_module_but_status_spells_a_status() -> None:
    spelled = {status.value for status in RunStatus}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == OWNER:
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        found += [f"{relative}: {text!r}" for text in _string_constants(path)
                  if text in spelled and (relative, text) not in COUNTER_LABELS]
    assert found == [], "spell these with RunStatus instead:\n" + "\n".join(found)


def test_the_old_constant_names_are_the_enum_members() -> None:
    assert run_store.NOT_STARTED is RunStatus.NOT_STARTED and run_store.CANCEL_REQUESTED is RunStatus.CANCEL_REQUESTED
    assert (run_store.FINISHED, run_store.FAILED, run_store.CANCELED) == (planner.FINISHED, planner.FAILED,
                                                                          planner.CANCELED)
    assert run_store.TERMINAL is TERMINAL is planner.TERMINAL


def test_stored_rows_and_json_keep_the_aml_strings() -> None:
    encoded = _encode({"status": RunStatus.CANCEL_REQUESTED, "error": {"status": RunStatus.FAILED}})
    assert json.loads(encoded["error"]) == {"status": "Failed"}
    assert f"{RunStatus.FINISHED}" == str(RunStatus.FINISHED) == "Finished"
    # A row read back from Table storage holds plain text; it compares equal to the member.
    row = decode({"PartitionKey": "r1", "RowKey": "run", "status": "Canceled"})
    assert row["status"] == RunStatus.CANCELED and row["status"] in TERMINAL


def test_rest_spells_statuses_from_the_enum() -> None:
    schemas = openapi_document("http://127.0.0.1")["components"]["schemas"]
    enums = [prop["enum"] for schema in schemas.values() for prop in schema.get("properties", {}).values()
             if isinstance(prop, dict) and "enum" in prop and "Finished" in prop["enum"]]
    assert enums and all(values == [s.value for s in RunStatus] for values in enums)
    # A run row written before its first transition has no status yet: REST answers NotStarted.
    body = run_entity({"PartitionKey": "r1", "RowKey": "run", "status": ""}, "http://127.0.0.1/api")
    assert json.loads(json.dumps(body))["Status"]["StatusCode"] == "NotStarted"
