"""A local workspace's backend is chosen once and works on storage only: it never loads the REST client.

Run in a fresh interpreter, so the check sees only what this script imported:
publishing, submitting and following a run, an endpoint and a schedule all go
to storage through the local backend, and ``pipeline_core.client`` (the only
code that speaks HTTP to a Functions app) is never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = """
import json, sys, uuid
from pipeline_core import (Experiment, Pipeline, PipelineEndpoint, PublishedPipeline, PythonScriptStep, Schedule,
                           ScheduleRecurrence, Workspace)
from pipeline_core.backend.local import LocalBackend

ws = Workspace()
assert isinstance(ws.backend, LocalBackend)
tag = uuid.uuid4().hex[:8]
published = Pipeline(ws, [PythonScriptStep("noop.py", name="noop", source_directory=sys.argv[1],
                                           allow_reuse=False)]).publish(name="local-" + tag)
endpoint = PipelineEndpoint.publish(ws, "local-" + tag, "", published)
run = Experiment(ws, "local-" + tag).submit(endpoint)
status = run.wait_for_completion(show_output=False, timeout_seconds=60)
schedule = Schedule.create(ws, "local-" + tag, published.id, "local-" + tag, run_now=False,
                           recurrence=ScheduleRecurrence("Week", 1, week_days=["Monday"], time_of_day="07:00"))
schedule.disable()
print(json.dumps({"status": status, "pipeline": PublishedPipeline.get(ws, published.id).name,
                  "endpoint_pipeline": endpoint.get_pipeline().id == published.id,
                  "runs": [r.id for r in Experiment(ws, "local-" + tag).get_runs()] == [run.id],
                  "client": sorted(m for m in sys.modules if m.startswith("pipeline_core.client"))}))
"""


def test_a_local_workspace_never_loads_the_rest_client(azurite: str, source_dir: Path) -> None:
    (source_dir / "noop.py").write_text("pass\n")
    env = {k: v for k, v in os.environ.items() if k != "AMLITE_ENDPOINT"}
    env["AMLITE_STORAGE"] = azurite
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(source_dir)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == "Finished" and answer["pipeline"].startswith("local-")
    assert answer["endpoint_pipeline"] and answer["runs"]
    assert answer["client"] == []
