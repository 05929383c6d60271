"""Steps never see the host's secrets: not in their environment, not in any log blob of their run.

The host environment is filled with realistic secret values (an account key, connection strings,
function keys, a client secret, the managed identity's endpoint and header); a script step and a
ParallelRunStep worker dump their whole environment to their logs and outputs; nothing of it may
hold a secret, while what a step needs (PATH, its parameters, its data paths, AML's run id) is there.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline_core import OutputFileDatasetConfig, Pipeline, PipelineParameter, PythonScriptStep, Workspace
from pipeline_core.core.dataset import Dataset
from pipeline_core.execution.logs import LOGS_CONTAINER
from pipeline_core.execution.step_env import build_step_env, host_variables
from pipeline_core.pipeline.steps import ParallelRunConfig, ParallelRunStep
from pipeline_core.storage.azurite import DEVSTORE_KEY

pytestmark = pytest.mark.integration

ACCOUNT_KEY = "c2VjcmV0LWFjY291bnQta2V5LWZvci1hbWxpdGUtdGVzdHMtMDEyMzQ1Njc4OQ=="
SECRETS = {
    "AzureWebJobsStorage__accountKey": ACCOUNT_KEY,
    "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=https;AccountName=prod;AccountKey={ACCOUNT_KEY}",
    "AZURE_STORAGE_KEY": ACCOUNT_KEY,
    "AMLITE_FUNCTION_KEYS": "fk-3b1c9e0d7a4f4e2c8d5b6a7f9e0c1d2b,fk-second-key-9f8e7d6c",
    "AZURE_CLIENT_SECRET": "Qx8~clientsecret.Value-For_Tests-000",
    "IDENTITY_ENDPOINT": "http://localhost:42356/msi/token",
    "IDENTITY_HEADER": "identity-header-6d1f0b2e-secret",
    "MSI_SECRET": "msi-secret-5a4b3c2d1e",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-1111-2222-3333-444444444444",
    "WEBSITE_AUTH_ENCRYPTION_KEY": "website-auth-encryption-key-77aa",
    "AMLITE_DEVHOST_SYSTEM_KEY": "system-key-for-durable-webhooks-0c0c",
}

DUMP = """
import json, os, pathlib, subprocess, sys
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
env = dict(os.environ)
(out / "env.json").write_text(json.dumps(env))
print(json.dumps(env))  # into the step's log
print(subprocess.run([sys.executable, "-c", "import os; print(dict(os.environ))"], capture_output=True,
                     text=True).stdout, file=sys.stderr)  # a child's view, into stderr.txt
"""

PRS_DUMP = """
import json, os

def init():
    print("worker env", json.dumps(dict(os.environ)))

def run(mini_batch):
    return [json.dumps(dict(os.environ))]
"""


@pytest.fixture
def secret_host_env(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host's environment holds secrets, as on Azure; returns every secret value to look for."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    # The local engine's own storage setting (AMLITE_STORAGE, the emulator's connection string) holds its key.
    return [*SECRETS.values(), ACCOUNT_KEY, DEVSTORE_KEY]


def _run_blobs(ws: Workspace, run_id: str) -> dict[str, bytes]:
    """Every log blob of the run, and every output blob it wrote."""
    found: dict[str, bytes] = {}
    for container_name in (LOGS_CONTAINER, "pipelinedata"):
        container = ws.account.container(container_name)
        for prefix in (f"{run_id}/", f"azureml/{run_id}_"):
            for blob in container.list_blobs(name_starts_with=prefix):
                found[f"{container_name}/{blob.name}"] = container.download_blob(blob.name).readall()
    return found


def test_no_host_secret_reaches_a_step_or_its_logs(workspace: Workspace, source_dir: Path, tmp_path: Path,
                                                   experiment_name: str, secret_host_env: list[str]) -> None:
    (source_dir / "dump.py").write_text(DUMP)
    (source_dir / "score.py").write_text(PRS_DUMP)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    prefix = f"env-{uuid.uuid4().hex[:8]}"
    workspace.get_default_datastore().upload(str(data), target_path=prefix, show_progress=False)
    dumped = OutputFileDatasetConfig("dumped")
    mode = PipelineParameter("mode", "fast")
    script = PythonScriptStep("dump.py", name="dump", arguments=[dumped], params={"mode": mode},
                              source_directory=str(source_dir), allow_reuse=False)
    config = ParallelRunConfig(environment=None, entry_script="score.py", error_threshold=-1,
                               output_action="append_row", compute_target=None, node_count=1,
                               process_count_per_node=1, mini_batch_size=1, source_directory=str(source_dir),
                               environment_variables={"MY_SETTING": "from-the-config"})
    ds = Dataset.File.from_files(path=(workspace.get_default_datastore(), f"{prefix}/**"))
    prs = ParallelRunStep("prs-dump", config, inputs=[ds.as_named_input("docs")],
                          output=OutputFileDatasetConfig("rows"), allow_reuse=False)
    run = Pipeline(workspace, [script, prs]).submit(experiment_name)
    assert run.wait_for_completion(show_output=False, timeout_seconds=120) == "Finished"

    blobs = _run_blobs(workspace, run.id)
    step_env = json.loads(next(v for k, v in blobs.items() if k.endswith("/dumped/env.json")))
    worker_env = json.loads(next(v for k, v in blobs.items() if k.endswith("/parallel_run_step.txt")).decode())
    for env in (step_env, worker_env):
        for name in SECRETS:
            assert name not in env
        for name in ("AMLITE_STORAGE", "AzureWebJobsStorage", "AZURE_STORAGE_CONNECTION_STRING"):
            assert name not in env
        assert env["PATH"] and env["AZUREML_RUN_ID"].startswith(run.id)
    assert step_env["AML_PARAMETER_mode"] == "fast"
    assert step_env["AZUREML_DATAREFERENCE_dumped"].endswith("dumped")
    assert worker_env["MY_SETTING"] == "from-the-config"

    assert any(k.startswith(f"logs/{run.id}/dump/") for k in blobs)
    assert any(k.startswith(f"logs/{run.id}/prs-dump/user/") for k in blobs)  # the worker's own log
    for name, content in blobs.items():
        text = content.decode("utf-8", errors="replace")
        leaked = [secret for secret in secret_host_env if secret in text]
        assert not leaked, f"{name} holds a host secret"


def test_operator_passthrough_admits_plain_settings_and_refuses_secret_names() -> None:
    host = {"PATH": "/usr/bin", "MY_API_URL": "https://api.example", "AzureWebJobsStorage": "secret",
            "MY_DB_PASSWORD": "hunter2", "AMLITE_STORAGE": "secret", "LC_ALL": "C.UTF-8", "HOSTNAME": "worker-1"}
    chosen = host_variables(host, ("MY_API_URL", "MY_DB_PASSWORD", "AzureWebJobsStorage"))
    assert chosen == {"PATH": "/usr/bin", "MY_API_URL": "https://api.example", "LC_ALL": "C.UTF-8"}
    env = build_step_env("run-1", "train", {"AML_PARAMETER_lr": "0.1"}, environ=host)
    assert env["AZUREML_RUN_ID"] == "run-1_train" and env["AML_PARAMETER_lr"] == "0.1"
    assert "AzureWebJobsStorage" not in env and "AMLITE_STORAGE" not in env and "HOSTNAME" not in env


def test_a_bad_step_setting_fails_the_step_with_its_name(monkeypatch: pytest.MonkeyPatch, workspace: Workspace,
                                                          source_dir: Path, experiment_name: str) -> None:
    from pipeline_core.execution.step_settings import step_settings

    (source_dir / "ok.py").write_text("print('never runs')\n")
    monkeypatch.setenv("AMLITE_STEP_TIMEOUT_SECONDS", "two hours")
    step_settings.cache_clear()
    try:
        step = PythonScriptStep("ok.py", name="ok", source_directory=str(source_dir), allow_reuse=False)
        run = Pipeline(workspace, [step]).submit(experiment_name)
        assert run.wait_for_completion(show_output=False, timeout_seconds=30, raise_on_error=False) == "Failed"
    finally:
        monkeypatch.delenv("AMLITE_STEP_TIMEOUT_SECONDS")
        step_settings.cache_clear()
    message = run.find_step_run("ok")[0].get_details()["error"]["message"]
    assert "AMLITE_STEP_TIMEOUT_SECONDS='two hours' is not a positive number of seconds" in message
