"""Pipeline-endpoint request bodies (create, add a version, set the default), checked field by field.

Each body is read completely before anything is looked up, so a malformed
request is a 400 naming the field even when it also names an unknown pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_core.application.publishing import MAX_NAME, check_name
from pipeline_core.errors import AmliteError
from pipeline_core.rest.body import Fields, json_type, parse_json_object
from pipeline_core.rest.errors import bad_request
from pipeline_core.rest.keys import body_key

CREATE_FIELDS = ("Name", "Description", "PipelineId")
CREATE_EXAMPLE = '{"Name": "scoring", "Description": "nightly scoring", "PipelineId": "<published pipeline id>"}'
VERSION_FIELDS = ("PipelineId", "SetAsDefault")
VERSION_EXAMPLE = '{"PipelineId": "<published pipeline id>", "SetAsDefault": true}'
DEFAULT_FIELDS = ("Version",)
DEFAULT_EXAMPLE = '{"Version": "1"}'
#: Versions are stored zero-padded to ten digits (``endpoint_store.version_key``).
MAX_VERSION_DIGITS = 10


@dataclass(frozen=True)
class NewEndpoint:
    name: str
    description: str
    pipeline_id: str


def _pipeline_id(fields: Fields) -> str:
    return body_key(fields.string("PipelineId", required=True, max_length=MAX_NAME) or "", "PipelineId")


def parse_create(body: bytes) -> NewEndpoint:
    """``POST /api/pipelineendpoints``: Name (a valid key), Description, PipelineId (version "0")."""
    fields = Fields(parse_json_object(body, "pipeline endpoint", CREATE_EXAMPLE), CREATE_FIELDS)
    name = fields.string("Name", required=True, max_length=MAX_NAME)
    try:
        check_name(name, "Name")
    except AmliteError as exc:
        raise bad_request(str(exc), "Name", "InvalidField") from None
    assert name is not None
    description = fields.string("Description", max_length=4096) or ""
    return NewEndpoint(name, description, _pipeline_id(fields))


def parse_add_version(body: bytes) -> tuple[str, bool]:
    """``POST .../versions``: (the published pipeline to add, whether it becomes the default)."""
    fields = Fields(parse_json_object(body, "add version", VERSION_EXAMPLE), VERSION_FIELDS)
    pipeline_id = _pipeline_id(fields)
    return pipeline_id, bool(fields.boolean("SetAsDefault"))


def _version(fields: Fields) -> str:
    """``Version`` as AML numbers them: "0", "1", ... (a whole number is accepted too)."""
    value = fields.values.get("Version")
    if value is None:
        raise bad_request("Version is required: the endpoint version to make the default, e.g. \"1\" (the "
                          "endpoint's Versions list them)", "Version", "MissingField")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_VERSION_DIGITS:
        return str(value)
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_VERSION_DIGITS:
        return str(int(text))
    shown = repr(value)[:80] if isinstance(value, (str, int, float)) else json_type(value)
    raise bad_request(f"Version must be a version number such as \"1\" (a string or whole number >= 0), not "
                      f"{shown}; the endpoint's Versions list them", "Version", "InvalidField")


def parse_rename(body: bytes) -> str:
    """``POST .../name``: the endpoint's new name (a valid key)."""
    fields = Fields(parse_json_object(body, "rename", '{"Name": "new-name"}'), ("Name",))
    name = fields.string("Name", required=True, max_length=MAX_NAME)
    try:
        check_name(name, "Name")
    except AmliteError as exc:
        raise bad_request(str(exc), "Name", "InvalidField") from None
    assert name is not None
    return name


def parse_default_version(body: bytes) -> str:
    """``POST .../defaultversion``: the version to make the default, as the store numbers them."""
    return _version(Fields(parse_json_object(body, "set default version", DEFAULT_EXAMPLE), DEFAULT_FIELDS))
