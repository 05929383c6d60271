"""azd postdeploy hook: subscribe the data-change blob trigger to the storage account's blob events.

On Flex Consumption a blob trigger runs only from Event Grid. infra/ creates
the account's Event Grid system topic; the subscription needs the trigger's
webhook URL, which carries the app's ``blobs_extension`` system key, and that
key exists only once the deployed app has started and indexed the trigger. So
azd runs this after every deploy (azure.yaml: hooks.postdeploy): it waits for
the key, then creates or updates the subscription. Safe to run again.

Reads the azd environment (azd passes it to hooks as environment variables):
AZURE_FUNCTION_APP_NAME, AZURE_RESOURCE_GROUP, AMLITE_BLOB_EVENTS_TOPIC.
Needs the Azure CLI, signed in (``az login``; in CI, azure/login). The key is
never printed. ``AMLITE_EVENTGRID_KEY_WAIT_SECONDS`` (default 300) bounds the wait
for the key, polled every ``AMLITE_EVENTGRID_POLL_SECONDS`` (default 10).
Run it by hand with ``azd hooks run postdeploy``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

# functions/schedules.py: the trigger and the container it watches (tests/infra checks they agree).
FUNCTION = "schedules_blob_changed"
CONTAINER = "workspaceblobstore"
SUBSCRIPTION = "amlite-data-change"
EVENT_TYPES = ("Microsoft.Storage.BlobCreated",)


class HookError(Exception):
    """Something the user must fix; the message says what."""


def setting(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise HookError(f"{name} is not set: run this through azd (`azd hooks run postdeploy`) after `azd provision`, "
                        "which stores it from infra/main.bicep's outputs")
    return value


def az(*args: str, secret: str = "") -> str:
    """Run the Azure CLI; on failure its message is passed on, with ``secret`` blanked out wherever it appears."""
    try:
        result = subprocess.run(["az", *args, "--only-show-errors"], capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise HookError("the Azure CLI (az) is not installed; see docs/deploy.md") from None
    if result.returncode != 0:
        message = result.stderr.strip()
        raise HookError(f"az {' '.join(args[:4])} failed: {message.replace(secret, '***') if secret else message}")
    return result.stdout.strip()


def blobs_extension_key(app: str, group: str, wait_seconds: float, poll_seconds: float) -> str:
    """The host's ``blobs_extension`` system key, polled until the started app has created it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        key = az("functionapp", "keys", "list", "-g", group, "-n", app, "--query", "systemKeys.blobs_extension",
                 "-o", "tsv")
        if key:
            return key
        if time.monotonic() >= deadline:
            raise HookError(f"function app {app} has no blobs_extension system key after {wait_seconds:.0f} s: "
                            f"the host has not started with the {FUNCTION} trigger. Check the deployment "
                            f"(`az functionapp log deployment show -g {group} -n {app}`, Application Insights), "
                            "then run `azd hooks run postdeploy`")
        print(f"waiting for {app} to start and create its blobs_extension key...", flush=True)
        time.sleep(poll_seconds)


def subscribe(app: str, group: str, topic: str, key: str) -> None:
    """Create or update (``create`` is a PUT) the subscription of the trigger's webhook to the topic."""
    host = az("functionapp", "show", "-g", group, "-n", app, "--query", "defaultHostName", "-o", "tsv")
    endpoint = f"https://{host}/runtime/webhooks/blobs?functionName=Host.Functions.{FUNCTION}&code={key}"
    az("eventgrid", "system-topic", "event-subscription", "create", "-g", group, "--system-topic-name", topic,
       "-n", SUBSCRIPTION, "--endpoint-type", "webhook", "--endpoint", endpoint,
       "--included-event-types", *EVENT_TYPES,
       "--subject-begins-with", f"/blobServices/default/containers/{CONTAINER}/", secret=key)


def main() -> int:
    try:
        app, group, topic = (setting(n) for n in ("AZURE_FUNCTION_APP_NAME", "AZURE_RESOURCE_GROUP",
                                                   "AMLITE_BLOB_EVENTS_TOPIC"))
        wait = float(os.environ.get("AMLITE_EVENTGRID_KEY_WAIT_SECONDS") or 300)
        poll = float(os.environ.get("AMLITE_EVENTGRID_POLL_SECONDS") or 10)
        subscribe(app, group, topic, blobs_extension_key(app, group, wait, poll))
    except HookError as exc:
        print(f"postdeploy: {exc}", file=sys.stderr)
        return 1
    print(f"Event Grid: blob events of {CONTAINER} now start {FUNCTION} on {app} (subscription {SUBSCRIPTION} "
          f"on {topic})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
