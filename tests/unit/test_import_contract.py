"""The import contract (issue #12): ``pipeline_core`` decides what runs and imports no edge; the edges compose.

Three checks, so ``make test`` shows what ``make lint`` enforces:

- import-linter's contracts (``.importlinter``): the top-level packages form layers with no cycle
  (``amlite_cli`` > ``amlite_local`` > ``functions`` > ``pipeline_core`` | ``amlite_devhost``); ``pipeline_core``
  imports nothing of ``functions``, ``function_app``, ``amlite_local``, ``amlite_devhost``, ``amlite_cli``;
  ``amlite_devhost`` imports nothing of pipelines.
- the local engine is found through the ``amlite.launchers`` entry point, not an import.
- after a real local submit (a fresh interpreter), ``azure.functions`` was imported only by the edges
  (``functions/``, ``function_app``, the dev host, the Azure libraries), and no import statement run by a
  ``pipeline_core`` module loaded it or any edge module (on the old layout ``engine/launch.py``'s
  ``from amlite_devhost.local import ...`` loaded the dev host, the app and ``azure.functions``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.is_file(), "import-linter is a dev dependency: run `make setup`"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", done.stdout)
    assert kept is not None and int(kept.group(1)) >= 3, done.stdout[-2000:]


def test_the_local_launcher_is_an_entry_point_not_an_import() -> None:
    entries = {e.name: e.value for e in importlib.metadata.entry_points(group="amlite.launchers")}
    assert entries.get("local") == "amlite_local.launcher:LocalLauncher"
    launch = (ROOT / "pipeline_core" / "engine" / "launch.py").read_text()
    assert "amlite_local" not in re.sub(r'"[^"\n]*"|#.*', "", launch.split('"""', 2)[2])  # code, not prose


SUBMIT = r"""
import builtins, json, sys

EDGES = ("azure.functions", "azure.durable_functions", "functions", "function_app", "amlite_local", "amlite_devhost",
         "amlite_cli")
pulled = {}
importers = set()
real_import = builtins.__import__


def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "?")
    if level == 0 and (name == "azure.functions" or name.startswith(("azure.functions.", "azure.durable_functions"))):
        importers.add(importer)
    if not importer.startswith("pipeline_core"):
        return real_import(name, globals, locals, fromlist, level)
    before = set(sys.modules)
    try:
        return real_import(name, globals, locals, fromlist, level)
    finally:
        edges = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in EDGES or m.startswith(EDGES))
        if edges:
            pulled.setdefault(importer, []).extend(edges[:5])


builtins.__import__ = recording_import

from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace

ws = Workspace()
step = PythonScriptStep("noop.py", name="noop", source_directory=sys.argv[1], allow_reuse=False)
status = Experiment(ws, "import-contract").submit(Pipeline(ws, [step])).wait_for_completion(show_output=False)
print(json.dumps({"status": status, "importers": sorted(importers), "pulled": pulled,
                  "loaded": "azure.functions" in sys.modules}))
"""


@pytest.mark.integration
def test_after_a_local_submit_no_pipeline_core_module_imported_azure_functions(azurite: str,
                                                                               source_dir: Path) -> None:
    (source_dir / "noop.py").write_text("pass\n")
    env = {k: v for k, v in os.environ.items() if k != "AMLITE_ENDPOINT"}
    env["AMLITE_STORAGE"] = azurite
    done = subprocess.run([sys.executable, "-c", SUBMIT, str(source_dir)], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == "Finished"
    assert answer["loaded"], "the local engine runs the Functions app, so azure.functions is loaded"
    assert any(name.startswith("functions.") for name in answer["importers"]), answer["importers"]
    assert [name for name in answer["importers"] if name.startswith("pipeline_core")] == []
    # no import statement a pipeline_core module ran (lazy ones inside functions included) loaded an edge module:
    # the local engine came through the ``amlite.launchers`` entry point, and it loaded the app
    assert answer["pulled"] == {}
