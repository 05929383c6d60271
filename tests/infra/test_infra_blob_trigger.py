"""The data-change blob trigger never receives a blob's content: it binds the SDK type ``BlobClient``.

On Azure the Python worker tells the host, per binding, whether it wants the
content or only "model binding data" (connection, container, blob name): the
flag is ``SupportsDeferredBinding`` in the raw binding the worker builds with
azurefunctions-extensions-base. These tests build that binding for the repo's
own trigger, and run an SDK-typed trigger through ``amlite dev``'s blob runner
against Azurite.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import typing
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob
import pytest
from azure.storage.blob import BlobClient, BlobServiceClient
from azurefunctions.extensions.base import get_binding_registry

from amlite_devhost.app_loader import FunctionInfo, index_app
from amlite_devhost.blob_triggers import BlobTriggerRunner


def raw_trigger_binding(function: Any) -> dict[str, Any]:
    """The trigger's raw binding as the worker sends it to the host (input types from the resolved hints)."""
    hints = typing.get_type_hints(function.get_user_function())
    input_types = {b.name: SimpleNamespace(pytype=hints.get(b.name)) for b in function.get_bindings()
                   if b.direction == 0 or b.type.endswith("Trigger")}
    raw, _ = get_binding_registry().get_raw_bindings(function, input_types)
    return next(b for b in map(json.loads, raw) if b["type"] == "blobTrigger")


def test_the_schedules_trigger_asks_the_host_for_the_blob_name_not_its_content() -> None:
    import function_app

    (info,) = [f for f in index_app(function_app.app).functions if f.name == "schedules_blob_changed"]
    binding = raw_trigger_binding(info.raw)
    assert binding["properties"] == {"SupportsDeferredBinding": True}
    assert binding["path"] == "workspaceblobstore/{name}" and binding["connection"] == "AzureWebJobsStorage"


def test_an_input_stream_trigger_would_get_the_content() -> None:
    """The control: the binding the handler used before asks for the content (so the flag above is meaningful)."""
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="data", path="c/{name}", connection="AzureWebJobsStorage")
    def reads_everything(data: func.InputStream) -> None:  # pragma: no cover - never invoked
        pass

    (function,) = app.get_functions()
    assert raw_trigger_binding(function)["properties"] == {"SupportsDeferredBinding": False}


@pytest.fixture
def container(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AMLITE_TEST_SDK_BLOBS", azurite)
    client = BlobServiceClient.from_connection_string(azurite).get_container_client(f"sdk-{uuid.uuid4().hex[:10]}")
    client.create_container()
    yield client
    client.delete_container()


@pytest.mark.integration
def test_the_dev_host_passes_an_sdk_typed_trigger_a_blob_client(container: Any) -> None:
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="changed", path=f"{container.container_name}/{{name}}",
                      connection="AMLITE_TEST_SDK_BLOBS")
    def on_blob(changed: blob.BlobClient) -> None:  # pragma: no cover - called through the runner's invoke
        pass

    (info,) = index_app(app).functions
    delivered: list[Any] = []

    def invoke(_: FunctionInfo, value: Any) -> concurrent.futures.Future[Any]:
        delivered.append(value)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(None)
        return future

    runner = BlobTriggerRunner([info], invoke, interval=0.05)
    runner.start()
    try:
        uploaded = container.upload_blob("in/big.bin", b"x" * 1024)
        deadline = time.monotonic() + 10
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()
    (value,) = delivered
    assert isinstance(value, BlobClient) and not isinstance(value, func.InputStream)
    assert (value.container_name, value.blob_name) == (container.container_name, "in/big.bin")
    # A working client on the connection the binding names: the handler reads what it needs, when it needs it.
    assert value.get_blob_properties().etag == uploaded.get_blob_properties().etag
