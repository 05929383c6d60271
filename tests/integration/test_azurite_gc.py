"""A temporary Azurite (the test suite's, one per session) runs without its periodic blob sweep.

Azurite 3.37 sweeps unreferenced blob extents every 10 minutes, deleting them one by one with an index
rebuild each (quadratic): after a full test session's churn the sweep at minute 10 held the emulator's
only thread for minutes and every storage call timed out (CI failed that way). These tests start
emulators of their own on free ports and read what the preload (``azurite_gc.cjs``) reports.
"""

from __future__ import annotations

import socket
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
