"""What CommandStep and DataTransferStep refuse, before anything runs: at construction and in a posted spec.

A posted spec may hold anything (REST publish/submit), so each kind's ``check`` names the field
and the fix; the SDK classes refuse what AML would not build.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_core import CommandStep, DataReference, DataTransferStep, PipelineData
from pipeline_core.engine.command_step import check_command_step
from pipeline_core.engine.step_kinds import step_kind
from pipeline_core.pipeline.steps.data_transfer_step import check_transfer_step


class _Store:
    def __init__(self, name: str) -> None:
        self.name = name


def _sql(**fields: Any) -> dict[str, Any]:
    return {"sql": {"datastore": "pg", "name": "orders", **fields}}


@pytest.mark.parametrize(("entry", "field", "words"), [
    ({"source": None, "destination": {"data": "out"}}, "source", "must be"),
    ({"source": {"data": ""}, "destination": {"data": "out"}}, "source", "names no data"),
    ({"source": _sql(), "destination": {"data": "out"}}, "source", "exactly one of"),
    ({"source": _sql(sql_table="a; DROP TABLE x"), "destination": {"data": "out"}}, "source", "is not a name"),
    ({"source": {"sql": {"datastore": "pg", "name": "../../etc/x.csv", "sql_table": "a"}},
      "destination": {"data": "out"}}, "source", "never a path"),
    ({"source": _sql(sql_table="a"), "destination": _sql(sql_table="b")}, "destination", "is a database"),
    ({"source": {"data": "raw"}, "destination": _sql(sql_query="SELECT 1"), "inputs": ["raw"]}, "destination",
     "no sql_table"),
    ({"source": {"data": "raw"}, "destination": {"data": "out"}, "source_reference_type": "folder", "inputs": ["raw"]},
     "source_reference_type", "'file' or 'directory'"),
    ({"source": {"data": "raw"}, "destination": {"data": "out"}, "inputs": []}, "source", "not one of the step's inputs"),
    ({"source": {"data": "raw"}, "destination": {"data": "raw"}, "inputs": ["raw"]}, "destination", "an input"),
])
def test_a_posted_transfer_entry_is_refused_naming_the_field(entry: dict[str, Any], field: str, words: str) -> None:
    problems = dict(check_transfer_step(entry))
    assert field in problems and words in problems[field], problems


def test_a_sound_transfer_entry_passes() -> None:
    assert check_transfer_step({"source": _sql(sql_table="public.orders"), "destination": {"data": "out"},
                                "destination_reference_type": "directory"}) == []
    assert check_transfer_step({"source": {"data": "raw"}, "destination": _sql(sql_table="orders"),
                                "inputs": ["raw"]}) == []


@pytest.mark.parametrize(("entry", "words"), [
    ({}, "is missing"),
    ({"command": {"shell": {"lit": "  "}}}, "non-empty"),
    ({"command": {"argv": True}, "arguments": []}, "at least the program"),
])
def test_a_posted_command_entry_is_refused(entry: dict[str, Any], words: str) -> None:
    (problem,) = check_command_step(entry)
    assert problem[0] == "command" and words in problem[1]


def test_the_sdk_classes_refuse_what_cannot_run() -> None:
    store = _Store("blobs")
    with pytest.raises(ValueError, match="needs source_data_reference"):
        DataTransferStep("t", source_data_reference=DataReference(store, path_on_datastore="x"))
    with pytest.raises(ValueError, match="source_data_reference is a str"):
        DataTransferStep("t", source_data_reference="x", destination_data_reference=PipelineData("o"))
    with pytest.raises(ValueError, match="'file' or 'directory'"):
        DataTransferStep("t", source_data_reference=DataReference(store, path_on_datastore="x"),
                         destination_data_reference=PipelineData("o"), source_reference_type="dir")
    with pytest.raises(ValueError, match="needs command"):
        CommandStep()
    with pytest.raises(ValueError, match="empty string"):
        CommandStep("   ")


def test_the_kinds_are_registered_with_their_checks() -> None:
    assert step_kind("CommandStep").script is False and step_kind("CommandStep").check
    assert step_kind("DataTransferStep").identity and step_kind("DataTransferStep").script is False
    assert step_kind("AdlaStep").spec_problems({"name": "a", "type": "AdlaStep"})[0][0] == "type"
