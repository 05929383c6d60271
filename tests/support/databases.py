"""Private PostgreSQL and MariaDB servers for tests: Debian's binaries, a temp data dir, a free port.

Each server runs as a process this module starts and stops (``stop()`` in a
``finally``), as an unprivileged user when the tests run as root (PostgreSQL
refuses root; MariaDB is kept alike). Binaries missing means the Makefile's
set-up did not run: callers skip, saying so.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

USER = "amlite"
PASSWORD = "amlite-test-pw"
DATABASE = "amlite"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def _mariadb_bins() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
    install = shutil.which("mariadb-install-db")
    return (server, install) if server and install else None


def missing_postgres() -> str | None:
    return None if _postgres_bin() else "PostgreSQL is not installed (make setup installs Debian's postgresql)"


def missing_mariadb() -> str | None:
    return None if _mariadb_bins() else "MariaDB is not installed (make setup installs Debian's mariadb-server)"


def _run_as(user: str) -> dict[str, object]:
    """Popen arguments that drop to ``user`` when running as root."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _private_dir(prefix: str, user: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


@dataclass
class DatabaseServer:
    kind: str
    port: int
    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """Fast shutdown, then kill if it lingers; the data dir goes too."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if self.kind == "postgres" else signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _wait_until(server: DatabaseServer, connect) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            connect()
            return
        except Exception as exc:  # not accepting connections yet
            last = exc
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.kind} did not start ({last}); its log:\n{server.log_tail()}")


def start_postgres() -> DatabaseServer:
    """initdb with a password login, then ``postgres`` on 127.0.0.1:<free port>."""
    binaries = _postgres_bin()
    assert binaries is not None, missing_postgres()
    root = _private_dir("amlite-pg-", "postgres")
    as_user = _run_as("postgres")
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres")
    data = root / "data"
    subprocess.run([str(binaries / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                    "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                   timeout=120, **as_user)  # type: ignore[call-overload]
    port = free_port()
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(binaries / "postgres"), "-D", str(data), "-p", str(port),
                                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
                                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                                   stdout=out, stderr=subprocess.STDOUT, **as_user)  # type: ignore[call-overload]
    server = DatabaseServer("postgres", port, root, process, log, database="postgres")

    def connect() -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres",
                             connect_timeout=2, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    _wait_until(server, connect)
    server.database = DATABASE
    return server


def start_mariadb() -> DatabaseServer:
    """mariadb-install-db into a temp dir, ``mariadbd`` on 127.0.0.1:<free port>, a password login."""
    bins = _mariadb_bins()
    assert bins is not None, missing_mariadb()
    server_bin, install_bin = bins
    root = _private_dir("amlite-maria-", "mysql")
    data = root / "data"
    as_user = _run_as("mysql")
    subprocess.run([install_bin, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                    "--skip-test-db", "--skip-name-resolve"], check=True, capture_output=True, timeout=180,
                   **as_user)  # type: ignore[call-overload]
    port = free_port()
    socket_path = root / "mysqld.sock"
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([server_bin, "--no-defaults", f"--datadir={data}", f"--port={port}",
                                    "--bind-address=127.0.0.1", f"--socket={socket_path}", f"--pid-file={root}/pid",
                                    "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
                                    "--innodb-flush-log-at-trx-commit=0"],
                                   stdout=out, stderr=subprocess.STDOUT, **as_user)  # type: ignore[call-overload]
    server = DatabaseServer("mariadb", port, root, process, log)

    def connect() -> None:
        import pymysql

        conn = pymysql.connect(unix_socket=str(socket_path), user="root", password="", connect_timeout=2,
                               autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
                cursor.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
                cursor.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1'")
        finally:
            conn.close()

    _wait_until(server, connect)
    return server
