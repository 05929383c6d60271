"""A step's log is streamed while it runs once the process prints; a quiet step's log is one upload at its end.

What a follower on another machine sees (``amlite logs``, ``wait_for_completion(show_output=True)``)
is the ``std_log.txt`` blob. Streaming costs requests (create an append blob, then append), which a
step that prints nothing has no use for in its first seconds: a wide fan-out on a busy host paid
them for almost every step.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace
from pipeline_core.execution.logs import LOGS_CONTAINER, QUIET_FIRST_FLUSH_SECONDS, log_blob_name
from pipeline_core.storage.account import get_account

pytestmark = pytest.mark.integration

SECONDS = 3.0
assert SECONDS < QUIET_FIRST_FLUSH_SECONDS  # the quiet step ends before its notes would stream


def _blob_type(workspace: Workspace, run_id: str, step: str) -> str | None:
    blob = get_account(workspace.storage).container(LOGS_CONTAINER).get_blob_client(log_blob_name(run_id, step))
    try:
        kind = blob.get_blob_properties().blob_type
        return str(getattr(kind, "value", kind))
    except ResourceNotFoundError:
        return None


def _log_text(workspace: Workspace, run_id: str, step: str) -> str:
    blob = get_account(workspace.storage).container(LOGS_CONTAINER).get_blob_client(log_blob_name(run_id, step))
    return blob.download_blob().readall().decode()


def test_a_printing_step_streams_its_log_and_a_quiet_one_uploads_it_once(workspace: Workspace,
                                                                            tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "talk.py").write_text(f"import time\nprint('first line', flush=True)\ntime.sleep({SECONDS})\n")
    (src / "quiet.py").write_text(f"import time\ntime.sleep({SECONDS})\n")
    steps = [PythonScriptStep(f"{name}.py", name=name, source_directory=str(src), allow_reuse=False)
             for name in ("talk", "quiet")]
    run = Experiment(workspace, "log-stream").submit(Pipeline(workspace, steps))
    deadline = time.monotonic() + 30
    while "first line" not in (_log_text(workspace, run.id, "talk") if _blob_type(workspace, run.id, "talk")
                               else ""):
        assert time.monotonic() < deadline, "the printing step's line never reached its log while it ran"
        time.sleep(0.2)
    assert run.get_status() == "Running"  # seen while the step still runs
    assert _blob_type(workspace, run.id, "quiet") is None  # its notes alone have not been streamed
    assert run.wait_for_completion(show_output=False) == "Finished"
    assert _blob_type(workspace, run.id, "talk") == "AppendBlob"  # streamed
    assert _blob_type(workspace, run.id, "quiet") == "BlockBlob"  # one upload at the end
    assert "[amlite] step 'quiet'" in _log_text(workspace, run.id, "quiet")
