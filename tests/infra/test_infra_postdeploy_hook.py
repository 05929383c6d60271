"""The azd postdeploy hook subscribes the data-change trigger to blob events, and never shows the key.

The hook drives the Azure CLI, which cannot reach Azure here, so these tests
put a stand-in ``az`` first on PATH: it answers the three commands the hook
runs the way the real CLI does (tsv output, a failing command's message on
stderr and exit code 1) and logs each call, so the tests see exactly what the
hook would ask Azure for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "scripts" / "postdeploy_eventgrid.py"
KEY = "k3y-Th4t-Must-N0t-Leak"

FAKE_AZ = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    state = os.environ["FAKE_AZ_STATE"]
    with open(os.path.join(state, "calls.jsonl"), "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    args = sys.argv[1:]
    if args[:3] == ["functionapp", "keys", "list"]:
        counter = os.path.join(state, "key-polls")
        polls = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
        open(counter, "w").write(str(polls))
        ready_after = int(os.environ.get("FAKE_AZ_KEY_AFTER", "1"))
        print(os.environ["FAKE_AZ_KEY"] if 0 < ready_after <= polls else "")
    elif args[:2] == ["functionapp", "show"]:
        print("func-amlite-abc.azurewebsites.net")
    elif args[:4] == ["eventgrid", "system-topic", "event-subscription", "create"]:
        if os.environ.get("FAKE_AZ_FAIL_CREATE"):
            endpoint = args[args.index("--endpoint") + 1]
            sys.stderr.write("ERROR: (Url validation) Webhook validation handshake failed for " + endpoint + "\\n")
            sys.exit(1)
        print("{{}}")
    else:
        sys.stderr.write("ERROR: unexpected command " + " ".join(args) + "\\n")
        sys.exit(2)
""")


def run_hook(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable))
    az.chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_AZ_STATE": str(tmp_path), "FAKE_AZ_KEY": KEY,
        "AZURE_FUNCTION_APP_NAME": "func-amlite-abc", "AZURE_RESOURCE_GROUP": "rg-amlite",
        "AMLITE_BLOB_EVENTS_TOPIC": "evgt-amlite-abc", "AMLITE_EVENTGRID_POLL_SECONDS": "0.05",
        "AMLITE_EVENTGRID_KEY_WAIT_SECONDS": "5", **env}
    result = subprocess.run([sys.executable, str(HOOK)], capture_output=True, text=True, env=environment,
                            timeout=60)
    log = tmp_path / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def option(call: list[str], name: str) -> Any:
    return call[call.index(name) + 1]


def test_waits_for_the_key_then_subscribes_the_trigger_webhook(tmp_path: Path) -> None:
    result, calls = run_hook(tmp_path, FAKE_AZ_KEY_AFTER="3")
    assert result.returncode == 0, result.stderr
    assert [c[:3] for c in calls].count(["functionapp", "keys", "list"]) == 3  # polled until the app made it
    (create,) = [c for c in calls if c[:2] == ["eventgrid", "system-topic"]]
    assert option(create, "--system-topic-name") == "evgt-amlite-abc" and option(create, "-g") == "rg-amlite"
    assert option(create, "--endpoint-type") == "webhook"
    assert option(create, "--endpoint") == ("https://func-amlite-abc.azurewebsites.net/runtime/webhooks/blobs"
                                            f"?functionName=Host.Functions.schedules_blob_changed&code={KEY}")
    assert option(create, "--included-event-types") == "Microsoft.Storage.BlobCreated"
    assert option(create, "--subject-begins-with") == "/blobServices/default/containers/workspaceblobstore/"
    assert KEY not in result.stdout + result.stderr
    assert "schedules_blob_changed" in result.stdout


def test_a_key_that_never_appears_fails_with_what_to_do(tmp_path: Path) -> None:
    result, calls = run_hook(tmp_path, FAKE_AZ_KEY_AFTER="0", AMLITE_EVENTGRID_KEY_WAIT_SECONDS="0.2")
    assert result.returncode == 1
    assert "func-amlite-abc has no blobs_extension system key" in result.stderr
    assert "azd hooks run postdeploy" in result.stderr
    assert not [c for c in calls if c[0] == "eventgrid"]


def test_an_az_failure_is_reported_without_the_key(tmp_path: Path) -> None:
    result, _ = run_hook(tmp_path, FAKE_AZ_FAIL_CREATE="1")
    assert result.returncode == 1
    assert "Webhook validation handshake failed" in result.stderr and "code=***" in result.stderr
    assert KEY not in result.stdout + result.stderr


def test_outside_azd_it_names_the_missing_setting(tmp_path: Path) -> None:
    result, calls = run_hook(tmp_path, AMLITE_BLOB_EVENTS_TOPIC="")
    assert result.returncode == 1 and "AMLITE_BLOB_EVENTS_TOPIC is not set" in result.stderr and calls == []


def test_the_hook_targets_the_apps_own_trigger_and_azd_runs_it() -> None:
    sys.path.insert(0, str(HOOK.parent))
    try:
        import postdeploy_eventgrid as hook
    finally:
        sys.path.remove(str(HOOK.parent))
    import function_app
    from amlite_devhost.app_loader import index_app

    (trigger,) = [f.trigger for f in index_app(function_app.app).functions if f.name == hook.FUNCTION]
    assert trigger["type"] == "blobTrigger" and trigger["path"] == f"{hook.CONTAINER}/{{name}}"
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]["postdeploy"]
    assert all("scripts/postdeploy_eventgrid.py" in hooks[shell]["run"] for shell in ("posix", "windows"))
    outputs = (ROOT / "infra" / "main.bicep").read_text()
    assert all(f"output {name} " in outputs for name in ("AZURE_FUNCTION_APP_NAME", "AZURE_RESOURCE_GROUP",
                                                           "AMLITE_BLOB_EVENTS_TOPIC"))
