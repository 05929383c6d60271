"""Azurite lifecycle, in one place for the CLI, the dev host and the test suite.

Why one place: every entry point needs the same three answers (is an emulator
already answering on the configured ports, if not how to start the pinned one
from ``node_modules``, and whether we own it and so must stop it). Getting any
of them wrong leaves a stray node process or clobbers someone else's data.

Ports come from ``AMLITE_AZURITE_BLOB_PORT`` / ``_QUEUE_PORT`` / ``_TABLE_PORT``
(defaults 10000-10002, Azurite's own).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pipeline_core.errors import AmliteError

DEVSTORE_ACCOUNT = "devstoreaccount1"
DEVSTORE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def connection_string_fields(value: str) -> dict[str, str]:
    """A storage connection string's ``key=value`` parts, keys lowercased (``blobendpoint``, ``accountname``).

    Only the first ``=`` splits a part: a SAS token's own ``=`` signs stay in its value.
    """
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, found = part.partition("=")
        if sep and key.strip():
            fields[key.strip().lower()] = found.strip()
    return fields


@dataclass(frozen=True)
class AzuritePorts:
    blob: int = 10000
    queue: int = 10001
    table: int = 10002

    @classmethod
    def from_env(cls) -> AzuritePorts:
        return cls(
            blob=int(os.environ.get("AMLITE_AZURITE_BLOB_PORT", "10000")),
            queue=int(os.environ.get("AMLITE_AZURITE_QUEUE_PORT", "10001")),
            table=int(os.environ.get("AMLITE_AZURITE_TABLE_PORT", "10002")),
        )

    @classmethod
    def from_connection_string(cls, value: str) -> AzuritePorts | None:
        """The ports a connection string's blob and table endpoints name on this machine (loopback), or None.

        Why: a workspace given an explicit emulator connection string (other ports than the environment's)
        must be checked, and started, on those ports, not on the defaults.
        """
        found: dict[str, int] = {}
        for key, url in connection_string_fields(value).items():
            service = key.removesuffix("endpoint")
            if service not in ("blob", "queue", "table"):
                continue
            parsed = urlsplit(url)
            if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
                return None
            found[service] = parsed.port
        if "blob" not in found or "table" not in found:
            return None
        return cls(blob=found["blob"], queue=found.get("queue", found["blob"] + 1), table=found["table"])

    def connection_string(self, host: str = "127.0.0.1") -> str:
        """The explicit form of ``UseDevelopmentStorage=true`` for these ports."""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={DEVSTORE_ACCOUNT};AccountKey={DEVSTORE_KEY};"
            f"BlobEndpoint=http://{host}:{self.blob}/{DEVSTORE_ACCOUNT};"
            f"QueueEndpoint=http://{host}:{self.queue}/{DEVSTORE_ACCOUNT};"
            f"TableEndpoint=http://{host}:{self.table}/{DEVSTORE_ACCOUNT};"
        )


def _answers(port: int, host: str = "127.0.0.1", timeout: float = 0.25) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_azurite_binary(start: Path | None = None) -> Path | None:
    """Look for ``node_modules/.bin/azurite`` from ``start`` (or cwd) upwards, then beside this package."""
    candidates: list[Path] = []
    for base in [start or Path.cwd(), Path(__file__).resolve().parent]:
        candidates.extend([base, *base.parents])
    for directory in candidates:
        binary = directory / "node_modules" / ".bin" / "azurite"
        if binary.exists():
            return binary
    found = shutil.which("azurite")
    return Path(found) if found else None


@dataclass
class Azurite:
    """A handle on a running Azurite; ``stop()`` only stops one this handle started."""

    ports: AzuritePorts
    process: subprocess.Popen[bytes] | None = None
    location: Path | None = None
    _temp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def started_here(self) -> bool:
        return self.process is not None

    @property
    def connection_string(self) -> str:
        return self.ports.connection_string()

    def stop(self) -> None:
        """Stop an Azurite this handle started.

        A temporary (in-memory) one holds nothing worth saving, and Azurite waits for idle
        keep-alive connections before it exits on SIGTERM (10 s or more): it is killed at once.
        One with a ``--location`` gets SIGTERM and time to write its data out.
        """
        if self.process is not None and self.process.poll() is None:
            if self._temp is not None:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None


#: Loaded into a temporary emulator (``node --require``): it postpones Azurite's blob garbage collection.
GC_PRELOAD = Path(__file__).with_name("azurite_gc.cjs")
#: The longest pause a Node timer takes (about 24.8 days): no sweep within a temporary emulator's life.
NO_GC_INTERVAL_MS = 2**31 - 1


def _emulator_environment(binary: Path, *, temporary: bool) -> dict[str, str]:
    """The environment Azurite starts with: for a temporary one, without its periodic blob sweep.

    Why: the sweep deletes unreferenced extents one by one, rebuilding a LokiJS index each time
    (quadratic); after a test session's churn the sweep at minute 10 blocked Azurite for minutes
    and storage calls timed out (see ``azurite_gc.cjs``). A temporary emulator holds its data in
    memory for one session, so nothing needs reclaiming. One with a ``--location`` keeps Azurite's
    own 10-minute sweep, or ``AMLITE_AZURITE_GC_INTERVAL_MS`` if set.
    """
    env = dict(os.environ)
    if temporary:
        env.setdefault("AMLITE_AZURITE_GC_INTERVAL_MS", str(NO_GC_INTERVAL_MS))
    if env.get("AMLITE_AZURITE_GC_INTERVAL_MS"):
        # .bin/azurite links to <package>/dist/src/azurite.js: the package is three folders up.
        env["AMLITE_AZURITE_PACKAGE"] = str(binary.resolve().parents[2])
        preload = f"--require={GC_PRELOAD}"
        env["NODE_OPTIONS"] = f"{env['NODE_OPTIONS']} {preload}" if env.get("NODE_OPTIONS") else preload
    return env


def _log_tail(log: Path, limit: int = 1500) -> str:
    """The end of Azurite's log: a temporary emulator's folder is gone once the error is raised."""
    try:
        return log.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return "(no log)"


def _running(ports: AzuritePorts) -> bool:
    return _answers(ports.blob) and _answers(ports.table)


def ensure_azurite(
    ports: AzuritePorts | None = None,
    location: Path | str | None = None,
    temporary: bool = False,
    timeout: float = 30.0,
) -> Azurite:
    """Reuse an Azurite answering on ``ports``, else start the pinned one.

    ``location`` holds its data (default ``.azurite/`` in the cwd); ``temporary``
    puts it in a fresh temp dir instead, which the test suite uses so runs never
    see each other's state.
    """
    ports = ports or AzuritePorts.from_env()
    if _running(ports):
        return Azurite(ports=ports)
    binary = find_azurite_binary()
    if binary is None:
        raise AmliteError(
            "Azurite is not running and node_modules/.bin/azurite was not found. "
            "Run `npm ci` in the project root (or `make setup`), or start Azurite yourself "
            f"on ports blob={ports.blob}, queue={ports.queue}, table={ports.table}."
        )
    temp: tempfile.TemporaryDirectory[str] | None = None
    if temporary:
        temp = tempfile.TemporaryDirectory(prefix="amlite-azurite-")
        data_dir = Path(temp.name)
    else:
        data_dir = Path(location) if location else Path.cwd() / ".azurite"
        data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "azurite.log", "ab")  # noqa: SIM115 - handed to the child process
    # A temporary emulator keeps its data in memory: nothing outlives it, and blob writes are twice as fast.
    persistence = ["--inMemoryPersistence"] if temporary else ["--location", str(data_dir)]
    env = _emulator_environment(binary, temporary=temporary)
    process = subprocess.Popen(
        [
            str(binary), "--silent", "--skipApiVersionCheck", "--loose", *persistence,
            "--blobHost", "127.0.0.1", "--blobPort", str(ports.blob),
            "--queueHost", "127.0.0.1", "--queuePort", str(ports.queue),
            "--tableHost", "127.0.0.1", "--tablePort", str(ports.table),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    log.close()
    handle = Azurite(ports=ports, process=process, location=data_dir, _temp=temp)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = _log_tail(data_dir / "azurite.log")
            handle.stop()
            raise AmliteError(
                f"Azurite exited with code {process.returncode} while starting "
                f"(is another program using port {ports.blob}?); the end of {data_dir / 'azurite.log'}:\n{said}"
            )
        if _running(ports):
            return handle
        time.sleep(0.05)
    handle.stop()
    raise AmliteError(f"Azurite did not answer on port {ports.blob} within {timeout:.0f} s")
