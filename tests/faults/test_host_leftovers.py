"""What a killed host left in its folders (step work folders on disk, ParallelRunStep scratch in RAM) is
removed by the next host on the machine; a live host's folders, another machine's and stray names are not.

Each host here is a real process: it makes its folders as the engine does (``work_root``, a worker
pool's ``scratch_for``), writes a file in each, and then waits; the test kills it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

_HOST = textwrap.dedent("""
    import json, sys, tempfile, time
    from pathlib import Path
    from pipeline_core.engine.step_context import work_root
    from pipeline_core.parallel.worker import WorkerPool, WorkerSetup

    work = Path(tempfile.mkdtemp(prefix="step-", dir=work_root()))
    (work / "output.bin").write_bytes(b"x" * 4096)
    setup = WorkerSetup(src=work, script="score.py", argv=[], env={}, log_dir=work / "logs", init_timeout=5)
    scratch = WorkerPool(setup=setup, work=work).scratch_for(10)
    (scratch / "input.txt").write_text("a mini-batch's input")
    print(json.dumps({"work": str(work), "scratch": str(scratch)}), flush=True)
    time.sleep(600)
""")


def _start_host(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-c", _HOST], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"the host process exited with {process.wait()}"
    return process, json.loads(line)


def _until_gone(paths: list[Path], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.exists() for p in paths):
        time.sleep(0.05)


def test_a_killed_hosts_folders_are_removed_by_the_next_host_and_a_live_ones_are_kept(tmp_path: Path) -> None:
    cache, ram = tmp_path / "cache", tmp_path / "shm"
    ram.mkdir()
    env = {**os.environ, "AMLITE_CACHE_DIR": str(cache), "AMLITE_PRS_SCRATCH": str(ram)}
    live, live_paths = _start_host(env)
    doomed, doomed_paths = _start_host(env)
    # Names the sweep must leave alone: another machine's host, a pid that never ran here, a stray folder.
    elsewhere = cache / "work" / "host-some-other-machine_1_1"
    stray = ram / "amlite-prs-notes"
    elsewhere.mkdir()
    stray.mkdir()
    try:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        left = [Path(doomed_paths["work"]).parent, Path(doomed_paths["scratch"]).parent]
        assert all(p.is_dir() and any(p.iterdir()) for p in left)  # nothing removed them: the host was killed

        following, following_paths = _start_host(env)  # the next host to make its folders
        try:
            _until_gone(left)
            assert not any(p.exists() for p in left), [p for p in left if p.exists()]
            for paths in (live_paths, following_paths):
                assert Path(paths["work"]).is_dir() and (Path(paths["scratch"]) / "input.txt").is_file()
            assert elsewhere.is_dir() and stray.is_dir()
            assert Path(live_paths["work"]).parent.name.startswith(f"host-{socket.gethostname()}_{live.pid}_")
        finally:
            following.kill()
            following.wait(10)
    finally:
        live.kill()
        live.wait(10)


def test_a_host_that_exits_cleanly_leaves_no_folder_of_its_own(tmp_path: Path) -> None:
    cache, ram = tmp_path / "cache", tmp_path / "shm"
    ram.mkdir()
    env = {**os.environ, "AMLITE_CACHE_DIR": str(cache), "AMLITE_PRS_SCRATCH": str(ram)}
    code = textwrap.dedent("""
        import tempfile
        from pathlib import Path
        from pipeline_core.engine.step_context import work_root
        from pipeline_core.parallel.worker import WorkerPool, WorkerSetup

        work = Path(tempfile.mkdtemp(prefix="step-", dir=work_root()))
        setup = WorkerSetup(src=work, script="score.py", argv=[], env={}, log_dir=work / "logs", init_timeout=5)
        pool = WorkerPool(setup=setup, work=work)
        (pool.scratch_for(10) / "input.txt").write_text("x")
        pool.close()  # removes the pool's work folder and its scratch, as at the end of a step
    """)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert list((cache / "work").iterdir()) == [] and list(ram.iterdir()) == []
