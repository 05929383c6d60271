"""Azurite as amlite starts it: on the ports a workspace names, and (temporary) without its blob sweep.

Azurite 3.37 sweeps unreferenced blob extents every 10 minutes, deleting them one by one with an index
rebuild each (quadratic): after a full test session's churn the sweep at minute 10 held the emulator's
only thread for minutes and every storage call timed out (CI failed that way). These tests start
emulators of their own on free ports and read what the preload (``azurite_gc.cjs``) reports.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_core.errors import AmliteError
from pipeline_core.storage.azurite import NO_GC_INTERVAL_MS, AzuritePorts, ensure_azurite


def _free_ports() -> AzuritePorts:
    sockets = [socket.socket() for _ in range(3)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        blob, queue, table = (int(sock.getsockname()[1]) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    return AzuritePorts(blob=blob, queue=queue, table=table)


def _log(location: Path | None) -> str:
    assert location is not None
    return (location / "azurite.log").read_text(errors="replace")


def test_a_temporary_emulator_never_sweeps_within_its_life(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMLITE_AZURITE_GC_INTERVAL_MS", raising=False)
    handle = ensure_azurite(_free_ports(), temporary=True)
    try:
        assert handle.started_here
        log = _log(handle.location)
        assert f"blob garbage collection every {NO_GC_INTERVAL_MS} ms" in log, log
    finally:
        handle.stop()


def test_a_persistent_emulator_keeps_azurites_own_sweep(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AMLITE_AZURITE_GC_INTERVAL_MS", raising=False)
    handle = ensure_azurite(_free_ports(), location=tmp_path / "data")
    try:
        assert handle.started_here
        assert "blob garbage collection" not in _log(handle.location)
    finally:
        handle.stop()


def test_a_bad_interval_stops_the_start_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_AZURITE_GC_INTERVAL_MS", "ten minutes")
    with pytest.raises(AmliteError, match="Azurite exited") as caught:
        ensure_azurite(_free_ports(), temporary=True, timeout=20)
    assert "AMLITE_AZURITE_GC_INTERVAL_MS=ten minutes" in str(caught.value)


@pytest.mark.parametrize("value, expected", [
    (AzuritePorts(11001, 11002, 11003).connection_string(), AzuritePorts(11001, 11002, 11003)),
    ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;"
     "BlobEndpoint=http://localhost:12000/devstoreaccount1;TableEndpoint=http://localhost:12002/devstoreaccount1",
     AzuritePorts(12000, 12001, 12002)),
    ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;"
     "BlobEndpoint=http://azurite:10000/devstoreaccount1;TableEndpoint=http://azurite:10002/devstoreaccount1", None),
    ("DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=k;EndpointSuffix=core.windows.net", None),
])
def test_the_ports_a_connection_string_names(value: str, expected: AzuritePorts | None) -> None:
    assert AzuritePorts.from_connection_string(value) == expected


def test_a_workspace_on_an_emulator_at_other_ports_starts_none_on_the_default_ones(azurite: str) -> None:
    """A local workspace checks the emulator its connection string names; it used to check (and start one
    on) the environment's ports whatever the string said: 1.8 s and a stray emulator on every first submit."""
    unused = _free_ports()
    env = {"AMLITE_AZURITE_BLOB_PORT": str(unused.blob), "AMLITE_AZURITE_QUEUE_PORT": str(unused.queue),
           "AMLITE_AZURITE_TABLE_PORT": str(unused.table)}
    script = (f"from pipeline_core import Workspace\n"
              f"ws = Workspace(storage={azurite!r})\n"
              "ws.account  # a local workspace's storage is checked (and started) on first use\n"
              "print(ws.get_default_datastore().name)\n"
              f"import socket\n"
              f"print(socket.socket().connect_ex(('127.0.0.1', {unused.blob})) != 0)\n")
    import os

    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["workspaceblobstore", "True"], done.stdout
