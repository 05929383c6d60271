"""The app as the real Azure Functions Python worker indexes it.

On Azure, the worker (``azure-functions-runtime``) imports ``function_app.py``, calls
``app.get_functions()`` and runs ``loader.process_indexed_function`` over all of them; one
refused function and no function of the app loads. These tests run that same loader (only
its gRPC message classes stood in) over the repo's app and over broken apps, and check
that ``amlite dev`` refuses what the worker refuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amlite_devhost.app_loader import ACTIVITY_TRIGGER, index_app, load_app
from amlite_devhost.worker_index import AppRefusedByWorker

REPO = Path(__file__).resolve().parents[2]

# Directions as the worker reports them (BindingInfo.Direction), and as azure.functions spells them.
_DIRECTIONS = {"IN": 0, "OUT": 1, "INOUT": 2}


_WORKER_PROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from azure_functions_runtime import loader
from amlite_devhost.worker_index import index_like_worker
functions = loader.index_function_app(sys.argv[1] + "/function_app.py")
print(json.dumps([[w.name, w.bindings, len(w.raw_bindings)] for w in index_like_worker(functions, None)]))
"""


@pytest.fixture(scope="module")
def worker_view() -> dict[str, tuple[dict[str, list[object]], int]]:
    """The worker's view, from a fresh process as on Azure (``get_functions()`` runs once per app)."""
    done = subprocess.run([sys.executable, "-c", _WORKER_PROCESS, str(REPO)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: (bindings, raw) for name, bindings, raw in json.loads(done.stdout.splitlines()[-1])}


def test_the_worker_loads_every_function_of_the_app(worker_view: dict[str, tuple[dict[str, list[object]], int]]) -> None:
    assert len(worker_view) >= 50
    assert {"pipeline_run", "run_step", "settle_steps", "finish_run", "parallel_step", "prs_run_slice",
            "schedules_tick", "schedules_blob_changed", "runs_sweep"} <= set(worker_view)


def test_the_dev_host_serves_exactly_what_the_worker_indexes(worker_view: dict[str, tuple[dict[str, list[object]], int]]) -> None:
    import function_app

    loaded = index_app(function_app.app, REPO)
    assert {f.name for f in loaded.functions} == set(worker_view)
    for info in loaded.functions:
        seen = {b["name"]: (b["type"], _DIRECTIONS[str(b["direction"]).upper()]) for b in info.bindings}
        bindings, raw_count = worker_view[info.name]
        assert seen == {name: tuple(kind) for name, kind in bindings.items()}, info.name
        assert raw_count == len(info.bindings)
    activities = {f.durable_name for f in loaded.functions if f.trigger_type == ACTIVITY_TRIGGER}
    assert activities <= set(loaded.activities)


_BAD_APP = '''
    from typing import Any

    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


    @app.route(route="ping")
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")


    @app.activity_trigger(input_name="payload")
    def generic_payload(payload: dict[str, Any]) -> dict:
        return payload
'''


@pytest.fixture
def bad_app(tmp_path: Path) -> Path:
    (tmp_path / "function_app.py").write_text(textwrap.dedent(_BAD_APP))
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    return tmp_path


def test_a_generic_alias_on_an_activity_refuses_the_whole_app(bad_app: Path) -> None:
    with pytest.raises(AppRefusedByWorker) as refused:
        load_app(bad_app, import_name="amlite_worker_index_bad_app")
    message = str(refused.value)
    assert "generic_payload" in message and "dict[str, typing.Any]" in message
    assert "none of its 2 functions would load" in message


def test_amlite_dev_exits_with_the_workers_message(bad_app: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AMLITE_WORKER_CHECK"}
    done = subprocess.run([sys.executable, "-m", "amlite_devhost", str(bad_app), "--port", "0",
                           "--no-timers", "--no-blob-triggers"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=bad_app)
    assert done.returncode != 0
    assert "cannot load the generic_payload function" in done.stderr
    assert "invalid non-type annotation dict[str, typing.Any]" in done.stderr


def test_the_escape_hatch_loads_without_the_check(bad_app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_WORKER_CHECK", "off")
    loaded = load_app(bad_app, import_name="amlite_worker_index_bad_app_unchecked")
    assert {f.name for f in loaded.functions} == {"ping", "generic_payload"}


def test_the_set_up_installs_the_loader_this_check_names() -> None:
    from amlite_devhost.worker_index import WORKER_PACKAGE

    assert f"WORKER_LOADER := {WORKER_PACKAGE} " in (REPO / "Makefile").read_text()
