"""Schedules on the Functions app: a timer tick every minute and a blob trigger on the default datastore.

Both parse what the trigger gives and hand it to pipeline_core in a worker
thread (``run_tick``, ``on_blob_changed``), which decides, claims and creates
the runs; the one thing only this layer can do is start an orchestration
through the Durable client, so pipeline_core gets a ``DurableLauncher``
(``functions/launcher.py``) that bridges back to this event loop.

The blob trigger watches the ``workspaceblobstore`` container on the account
of the ``AzureWebJobsStorage`` connection (the infra uses one account for both).
Its source is ``AMLITE_BLOB_TRIGGER_SOURCE`` (``LogsAndContainerScan``, the
host's polling scan, or ``EventGrid``); on Flex Consumption only ``EventGrid``
exists, so it is the default there (``azd up`` creates the subscription:
docs/schedules.md). It binds the SDK type ``BlobClient``
(azurefunctions-extensions-bindings-blob): the host then sends only the blob's
name, never its content, so a multi-GB data file costs the handler nothing;
pipeline_core reads the version (ETag) it needs from the blob's properties.
"""

from __future__ import annotations

import logging
import os

import azure.durable_functions as df
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from pipeline_core.engine.services import services_for, storage_from_environment
from pipeline_core.schedules.data_change import BlobChange, on_blob_changed
from pipeline_core.schedules.tick import TICK_SCHEDULE, run_tick

from .launcher import DurableLauncher, off_loop

log = logging.getLogger("amlite.schedules")
bp = df.Blueprint()

BLOB_CONTAINER = "workspaceblobstore"
BLOB_CONNECTION = "AzureWebJobsStorage"


def blob_source() -> func.BlobSource:
    """``AMLITE_BLOB_TRIGGER_SOURCE``; default EventGrid on Flex Consumption (its only source), else the scan."""
    flex = os.environ.get("WEBSITE_SKU", "").lower() == "flexconsumption"
    chosen = os.environ.get("AMLITE_BLOB_TRIGGER_SOURCE") or ("EventGrid" if flex else "LogsAndContainerScan")
    return func.BlobSource.EVENT_GRID if chosen.lower() == "eventgrid" else func.BlobSource.LOGS_AND_CONTAINER_SCAN


def blob_change(changed: blob.BlobClient) -> BlobChange:
    """The changed blob's container and name; its ETag and last-modified time are read by ``on_blob_changed``."""
    return BlobChange(changed.container_name or BLOB_CONTAINER, changed.blob_name)


@bp.timer_trigger(arg_name="timer", schedule=TICK_SCHEDULE)
@bp.durable_client_input(client_name="client")
async def schedules_tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    services = services_for(storage_from_environment())
    launcher = DurableLauncher(client)
    report = await off_loop(lambda: run_tick(services, launcher))
    for error in report.errors:
        log.error("schedules tick: %s", error)


@bp.blob_trigger(arg_name="changed", path=f"{BLOB_CONTAINER}/{{name}}", connection=BLOB_CONNECTION,
                 source=blob_source())
@bp.durable_client_input(client_name="client")
async def schedules_blob_changed(changed: blob.BlobClient, client: df.DurableOrchestrationClient) -> None:
    services = services_for(storage_from_environment())
    launcher = DurableLauncher(client)
    await off_loop(lambda: on_blob_changed(services, blob_change(changed), launcher))
