"""Start Azurite on demand for a local workspace, once per process, and stop it at exit if we started it."""

from __future__ import annotations

import atexit
import threading

from pipeline_core.storage.account import StorageAccount
from pipeline_core.storage.azurite import Azurite, AzuritePorts, _running, ensure_azurite

_lock = threading.Lock()
_started: Azurite | None = None
_checked = False


def ensure_local_storage(account: StorageAccount) -> None:
    """Start Azurite on the ports the account names (the environment's for ``UseDevelopmentStorage=true``).

    A connection string to an emulator elsewhere than this machine's loopback is left alone.
    """
    global _started, _checked
    if _checked:
        return
    with _lock:
        if _checked:
            return
        ports = AzuritePorts.from_connection_string(account.storage)
        if ports is not None and not _running(ports):
            _started = ensure_azurite(ports)
            atexit.register(_started.stop)
        _checked = True
