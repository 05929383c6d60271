"""CommandStep, DataTransferStep and AdlaStep through a published endpoint of the served Functions app.

The pipeline is published with the SDK and run by ``POST`` to its endpoint on the dev host
(real sockets, the app's orchestrator through azure-functions-durable's replay): a script
step's output copied server-side to a datastore, a datastore folder copied into an output,
a CommandStep reading it; a second POST reuses every step. A posted AdlaStep is a 400
saying the service was retired and where to go.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pytest
import requests
from http_support import error_of, get_run, on_host, wait_status

from pipeline_core import (
    CommandStep,
    DataReference,
    Datastore,
    DataTransferStep,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.engine.services import services_for

pytestmark = pytest.mark.integration

MAKE = ("import sys, pathlib\n"
        "out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'made.txt').write_text('made by a script')\n")
LIST = ("import sys, pathlib\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*')):\n"
        "    if p.is_file():\n"
        "        print('LISTED', p.name, '=', p.read_text())\n")


@pytest.mark.parametrize("publisher", ["local", "remote"])
def test_transfer_and_command_steps_run_through_a_published_endpoint_and_are_reused(
        http_base: str, http_workspace: Workspace, azurite: str, publisher: str) -> None:
    """Published from a local workspace, or over REST from a remote one (``endpoint=`` the app)."""
    ws = http_workspace if publisher == "local" else Workspace(endpoint=http_base, storage=azurite)
    src = Path(tempfile.mkdtemp(prefix="amlite-http-kinds-"))
    (src / "make.py").write_text(MAKE + f"# {uuid.uuid4().hex}\n")  # a snapshot of its own: nothing reused yet
    (src / "list.py").write_text(LIST)
    blobs = http_workspace.get_default_datastore()
    landing = Datastore.register_azure_blob_container(http_workspace, "httplanding", f"landing-{uuid.uuid4().hex[:8]}",
                                                      overwrite=True)
    prefix = f"incoming/{uuid.uuid4().hex[:8]}"
    blobs._container.upload_blob(f"{prefix}/in.txt", b"from the datastore")
    made, copied = PipelineData("made"), PipelineData("copied")
    make = PythonScriptStep("make.py", name="make", arguments=[made], outputs=[made], source_directory=str(src))
    ship = DataTransferStep("ship", source_data_reference=made,
                            destination_data_reference=DataReference(landing, path_on_datastore="shipped"),
                            destination_reference_type="directory")
    fetch = DataTransferStep("fetch", source_data_reference=DataReference(blobs, path_on_datastore=prefix),
                             destination_data_reference=copied)
    show = CommandStep(["python", "list.py", copied], name="show", inputs=[copied], source_directory=str(src))
    published = Pipeline(ws, [make, ship, fetch, show]).publish(name=f"http-kinds-{uuid.uuid4().hex[:8]}")

    endpoint = published.endpoint if published.endpoint.startswith(http_base) else on_host(published.endpoint, http_base)
    runs = []
    for _ in range(2):
        answer = requests.post(endpoint, timeout=30,
                               json={"ExperimentName": f"http-kinds-{uuid.uuid4().hex[:6]}"})
        assert answer.status_code == 202, answer.text
        run_id = answer.json()["Id"]
        assert wait_status(http_base, run_id, timeout=120) == "Finished", get_run(http_base, run_id, steps="true")
        runs.append(get_run(http_base, run_id, steps="true"))
    first, second = ({s["Name"]: s for s in run["Steps"]} for run in runs)
    assert not any(s["IsReused"] for s in first.values())
    assert all(s["IsReused"] for s in second.values())
    assert landing._container.download_blob("shipped/made.txt").readall() == b"made by a script"
    log = requests.get(f"{http_base}/api/runs/{runs[0]['Id']}/steps/show/logs", timeout=10)
    assert log.status_code == 200 and "LISTED in.txt = from the datastore" in log.text
    log = requests.get(f"{http_base}/api/runs/{runs[0]['Id']}/steps/fetch/logs", timeout=10)
    assert "server-side" in log.text


def test_a_posted_adla_step_is_refused_saying_the_service_is_retired(
        http_base: str, http_workspace: Workspace, echo_published) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(services_for(http_workspace.storage).load_spec(echo_published.graph_id).doc))
    doc["steps"][0]["type"] = "AdlaStep"
    answer = requests.post(f"{http_base}/api/pipelines", json={"Name": "adla", "PipelineSpec": doc}, timeout=30)
    error = error_of(answer, 400)
    assert "retired" in error["message"] and "DatabricksStep" in error["message"]
