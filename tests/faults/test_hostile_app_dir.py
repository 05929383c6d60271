"""A driver run from a folder holding its own ``function_app.py`` (and ``functions/``, ``host.json``) runs the
pipeline correctly: the local engine loads amlite's app by its file path, never by the bare module name.

Each case is a real ``python driver.py`` with the folder as its working directory, so the folder is
``sys.path[0]`` exactly as for a user. The folder's files either break on import (the old
``importlib.import_module("function_app")`` would have died on them) or lie: an app whose
``pipeline_run`` "finishes" every run without running a step, a ``functions`` package that breaks, and a
``host.json`` naming another task hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import json, pathlib, sys
from pipeline_core import Experiment, Pipeline, PipelineData, PythonScriptStep, Workspace

ws = Workspace()
out = PipelineData("out")
make = PythonScriptStep("make.py", name="make", arguments=[out], outputs=[out], source_directory="src",
                        allow_reuse=False)
read = PythonScriptStep("read.py", name="read", arguments=[out], inputs=[out], source_directory="src",
                        allow_reuse=False)
run = Experiment(ws, "hostile-dir").submit(Pipeline(ws, [make, read]))
status = run.wait_for_completion(show_output=False, timeout_seconds=120)
print(json.dumps({
    "status": status,
    "read_log": run.find_step_run("read")[0].get_stdout_log(),
    "function_app": getattr(sys.modules.get("function_app"), "__file__", ""),
    "functions": getattr(sys.modules.get("functions"), "__file__", ""),
}))
"""

BREAKS = "raise SystemExit('the folder\\'s own function_app.py was imported')\n"

LIES = """
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context", orchestration="pipeline_run")
def pipeline_run(context):  # "finishes" every run without running a step
    return "Finished"
    yield
"""


def _folder(tmp_path: Path, function_app: str) -> Path:
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "driver.py").write_text(DRIVER)
    (folder / "function_app.py").write_text(function_app)
    (folder / "functions").mkdir()
    (folder / "functions" / "__init__.py").write_text(BREAKS.replace("function_app.py", "functions package"))
    # Valid JSON on purpose: azure-functions-durable itself parses ./host.json when it is imported (outside
    # pytest), so a broken one there fails any Durable app, amlite's included. This one lies instead.
    (folder / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": {
        "hubName": "HostileHub", "maxConcurrentActivityFunctions": 0}}}))
    (folder / "src" / "make.py").write_text(
        "import pathlib, sys\npathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)\n"
        "pathlib.Path(sys.argv[1], 'v.txt').write_text('made by make')\n")
    (folder / "src" / "read.py").write_text(
        "import pathlib, sys\nprint('read:', pathlib.Path(sys.argv[1], 'v.txt').read_text())\n")
    return folder


@pytest.mark.parametrize("function_app", [BREAKS, LIES], ids=["breaks-on-import", "lies"])
def test_a_driver_in_a_folder_with_its_own_function_app_runs_the_pipeline(
        azurite: str, tmp_path: Path, function_app: str) -> None:
    folder = _folder(tmp_path, function_app)
    env = {k: v for k, v in os.environ.items() if k not in ("AMLITE_ENDPOINT", "PYTHONPATH")}
    env["AMLITE_STORAGE"] = azurite
    done = subprocess.run([sys.executable, "driver.py"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == "Finished"
    assert "read: made by make" in answer["read_log"]  # both steps really ran, in order, on their data
    assert answer["function_app"] == str(REPO / "function_app.py")
    assert answer["functions"] == str(REPO / "functions" / "__init__.py")
