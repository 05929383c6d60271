"""Server-side blob copies on Azurite: the worker's client sends requests, never the blobs' bytes."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from pipeline_core.core import Datastore
from pipeline_core.errors import AmliteError
from pipeline_core.storage.azurite import DEVSTORE_ACCOUNT, DEVSTORE_KEY
from pipeline_core.transfer import blob_identity, copy_blobs

pytestmark = pytest.mark.integration
LARGE = 48 * 1024 * 1024


class ByteCounter:
    """Counts the bytes that cross the wire through one client: request bodies and response bodies."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.methods: list[str] = []

    def __call__(self, response) -> None:  # type: ignore[no-untyped-def]
        request = response.http_request
        body = request.body
        self.sent += len(body) if isinstance(body, bytes | bytearray | str) else 0
        if request.method != "HEAD":  # a HEAD answer names the blob's length but carries no body
            self.received += int(response.http_response.headers.get("Content-Length") or 0)
        self.methods.append(request.method)


def _containers(azurite: str, counter: ByteCounter | None = None):  # type: ignore[no-untyped-def]
    service = BlobServiceClient.from_connection_string(azurite, **({"raw_response_hook": counter} if counter else {}))
    names = [f"copy-{uuid.uuid4().hex[:10]}", f"copy-{uuid.uuid4().hex[:10]}"]
    for name in names:
        service.create_container(name)
    return service, [service.get_container_client(n) for n in names]


def test_a_large_blob_is_copied_without_its_bytes_passing_through_the_worker(azurite: str) -> None:
    _service, (source, destination) = _containers(azurite)
    payload = os.urandom(1024 * 1024) * (LARGE // (1024 * 1024))
    source.upload_blob("big/model.bin", payload, max_concurrency=4)
    counter = ByteCounter()
    worker = BlobServiceClient.from_connection_string(azurite, raw_response_hook=counter)
    seen: list[tuple[int, int]] = []
    result = copy_blobs(worker.get_container_client(source.container_name), "big/model.bin",
                        worker.get_container_client(destination.container_name), "copied/model.bin",
                        progress=lambda done, total: seen.append((done, total)))
    assert [(f.destination, f.size) for f in result.files] == [("copied/model.bin", LARGE)]
    assert counter.sent + counter.received < 64 * 1024, "the copy moved blob bytes through the worker's client"
    assert "PUT" in counter.methods and seen[-1] == (LARGE, LARGE)
    copied = destination.download_blob("copied/model.bin", max_concurrency=4).readall()
    assert hashlib.sha256(copied).digest() == hashlib.sha256(payload).digest()


def test_a_folder_keeps_its_layout_and_reports_progress(azurite: str) -> None:
    _service, (source, destination) = _containers(azurite)
    files = {"raw/a.csv": b"x,y\n1,2\n", "raw/sub/b.csv": b"x,y\n3,4\n", "raw/sub/c.txt": b"hello", "rawer/no.txt": b"-"}
    for name, data in files.items():
        source.upload_blob(name, data)
    seen: list[tuple[int, int]] = []
    result = copy_blobs(source, "raw", destination, "landing/2026", progress=lambda d, t: seen.append((d, t)))
    assert sorted(b.name for b in destination.list_blobs()) == [
        "landing/2026/a.csv", "landing/2026/sub/b.csv", "landing/2026/sub/c.txt"]
    assert result.bytes == 21 and seen[-1] == (21, 21)
    assert destination.download_blob("landing/2026/sub/c.txt").readall() == b"hello"
    copy_blobs(source, "raw/a.csv", destination, "single", destination_is_directory=True)
    assert destination.get_blob_client("single/a.csv").exists()


def test_a_source_reached_by_sas_only_is_copied(azurite: str) -> None:
    _service, (source, destination) = _containers(azurite)
    source.upload_blob("in/data.bin", b"\x01" * 4096)
    sas = generate_container_sas(DEVSTORE_ACCOUNT, source.container_name, account_key=DEVSTORE_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    endpoint = source.url.rsplit("/", 1)[0]
    by_sas = BlobServiceClient(endpoint, credential=sas).get_container_client(source.container_name)
    copy_blobs(by_sas, "in/data.bin", destination, "out/data.bin")
    assert destination.download_blob("out/data.bin").readall() == b"\x01" * 4096


def test_missing_source_is_named_and_identity_follows_etags(azurite: str) -> None:
    _service, (source, destination) = _containers(azurite)
    with pytest.raises(AmliteError, match="no blobs found at 'nothing/here'"):
        copy_blobs(source, "nothing/here", destination, "x")
    source.upload_blob("d/one.txt", b"1")
    source.upload_blob("d/two.txt", b"2")
    first = blob_identity(source, "d")
    assert blob_identity(source, "d") == first
    source.upload_blob("d/two.txt", b"2", overwrite=True)  # same bytes, new ETag: a new source version
    assert blob_identity(source, "d") != first


def test_adls_gen2_datastore_is_a_blob_container_here(workspace) -> None:
    filesystem = f"lake-{uuid.uuid4().hex[:8]}"
    store = Datastore.register_azure_data_lake_gen2(workspace, "lake", filesystem, overwrite=True)
    found = Datastore.get(workspace, "lake")
    assert found.datastore_type == "AzureDataLakeGen2" and found.container_name == filesystem
    store._container.upload_blob("zone/part-0.parquet", b"PAR1")
    target = workspace.get_default_datastore()
    copy_blobs(found._container, "zone", target._container, f"from-lake/{filesystem}")
    assert target._container.download_blob(f"from-lake/{filesystem}/part-0.parquet").readall() == b"PAR1"


def test_a_copy_across_accounts_reads_the_source_through_a_sas(two_accounts) -> None:
    endpoint, (name_a, key_a), (name_b, key_b) = two_accounts
    a = BlobServiceClient(f"{endpoint}/{name_a}", credential={"account_name": name_a, "account_key": key_a})
    b = BlobServiceClient(f"{endpoint}/{name_b}", credential={"account_name": name_b, "account_key": key_b})
    source = a.create_container(f"src-{uuid.uuid4().hex[:8]}")
    destination = b.create_container(f"dst-{uuid.uuid4().hex[:8]}")
    source.upload_blob("exports/2026/part-0.csv", b"a,b\n1,2\n")
    source.upload_blob("exports/2026/part-1.csv", b"a,b\n3,4\n")
    # the destination account cannot read the source by its plain URL: the SAS is what makes the copy work
    plain = ContainerClient(f"{endpoint}/{name_a}", source.container_name).get_blob_client("exports/2026/part-0.csv")
    with pytest.raises(HttpResponseError):
        destination.get_blob_client("probe").start_copy_from_url(plain.url)
    result = copy_blobs(source, "exports/2026", destination, "landing")
    assert sorted(f.destination for f in result.files) == ["landing/part-0.csv", "landing/part-1.csv"]
    assert destination.download_blob("landing/part-1.csv").readall() == b"a,b\n3,4\n"
    # a source datastore registered with a SAS token only: its own SAS travels with the URL
    sas = generate_container_sas(name_a, source.container_name, account_key=key_a,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    by_sas = ContainerClient(f"{endpoint}/{name_a}", source.container_name, credential=sas)
    copy_blobs(by_sas, "exports/2026/part-0.csv", destination, "by-sas", destination_is_directory=True)
    assert destination.download_blob("by-sas/part-0.csv").readall() == b"a,b\n1,2\n"
