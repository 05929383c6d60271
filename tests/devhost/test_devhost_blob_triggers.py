"""The dev host's blob-trigger runner against Azurite: new and changed blobs delivered, patterns, retries."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.storage.blob import BlobServiceClient

from amlite_devhost.app_loader import FunctionInfo, index_app
from amlite_devhost.blob_triggers import BlobPath, BlobTriggerRunner, DevBlobInputStream

pytestmark = pytest.mark.integration


def _blob_app(path: str, connection: str = "AMLITE_TEST_BLOBS") -> FunctionInfo:
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="blob", path=path, connection=connection)
    def on_blob(blob: func.InputStream) -> None:  # pragma: no cover - called through the runner's invoke
        pass

    (info,) = index_app(app).functions
    return info


class Recorder:
    """An ``invoke`` that records each delivery; ``fail`` makes the first N calls for a name raise."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, str, int, bytes, dict[str, Any]]] = []
        self.fail = dict(fail or {})
        self.lock = threading.Lock()

    def __call__(self, info: FunctionInfo, value: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        assert isinstance(value, func.InputStream) and isinstance(value, DevBlobInputStream)
        name = value.name or ""
        with self.lock:
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                future.set_exception(RuntimeError(f"boom {name}"))
                return future
            self.calls.append((name, value.uri or "", value.length or 0, value.read(), value.blob_properties))
        future.set_result(None)
        return future

    def names(self) -> list[str]:
        with self.lock:
            return [c[0] for c in self.calls]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def container(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AMLITE_TEST_BLOBS", azurite)
    client = BlobServiceClient.from_connection_string(azurite).get_container_client(f"bt-{uuid.uuid4().hex[:10]}")
    client.create_container()
    yield client
    client.delete_container()


def test_binding_path_patterns() -> None:
    path = BlobPath.parse("samples/in/{name}.csv")
    assert (path.container, path.prefix) == ("samples", "in/")
    assert path.matches("in/a.csv") and path.matches("in/sub/b.csv")
    assert not path.matches("in/a.txt") and not path.matches("out/a.csv")
    assert BlobPath.parse("samples/{name}").matches("any/thing")
    with pytest.raises(ValueError, match="container name"):
        BlobPath.parse("{name}")


def test_new_and_changed_blobs_are_delivered_once_existing_ones_are_the_baseline(container: Any) -> None:
    container.upload_blob("old.txt", b"before the host")
    recorder = Recorder()
    runner = BlobTriggerRunner([_blob_app(f"{container.container_name}/{{name}}")], recorder, interval=0.05)
    runner.start()
    try:
        container.upload_blob("new.txt", b"hello")
        wait_for(lambda: len(recorder.calls) == 1)
        name, uri, length, data, properties = recorder.calls[0]
        assert (name, length, data) == (f"{container.container_name}/new.txt", 5, b"hello")
        assert uri.endswith(f"/{container.container_name}/new.txt") and properties["ETag"]
        time.sleep(0.3)
        assert recorder.names() == [f"{container.container_name}/new.txt"]  # not again, and not old.txt
        container.upload_blob("new.txt", b"changed", overwrite=True)
        wait_for(lambda: len(recorder.calls) == 2)
        assert recorder.calls[1][3] == b"changed" and recorder.calls[1][4]["ETag"] != properties["ETag"]
    finally:
        runner.stop()


def test_only_matching_blobs_and_a_failed_invocation_is_retried(container: Any) -> None:
    target = f"{container.container_name}/in/a.csv"
    recorder = Recorder(fail={target: 2})
    runner = BlobTriggerRunner([_blob_app(f"{container.container_name}/in/{{name}}.csv")], recorder, interval=0.05)
    runner.start()
    try:
        container.upload_blob("in/a.csv", b"1,2")
        container.upload_blob("in/a.txt", b"no")
        container.upload_blob("elsewhere/b.csv", b"no")
        wait_for(lambda: len(recorder.calls) == 1)
        time.sleep(0.3)
        assert recorder.names() == [target]  # delivered on the third attempt, nothing else matched
    finally:
        runner.stop()


def test_a_missing_connection_setting_puts_only_that_function_in_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMLITE_NO_SUCH_CONNECTION", raising=False)
    runner = BlobTriggerRunner([_blob_app("c1/{name}", connection="AMLITE_NO_SUCH_CONNECTION")], Recorder())
    assert runner.watches == []
    runner.start()
    runner.stop()
