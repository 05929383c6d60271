"""Batch scoring on a schedule: AML SDK v1 code (only the imports changed).

Publishes the batch-scoring pipeline of driver.py (train -> ParallelRunStep, built by scoring_pipeline.py)
with a folder of incoming files as its input, and schedules it twice:

- nightly at 02:00 UTC (a ScheduleRecurrence);
- when files land in that folder (a data-change schedule on the datastore), so new files get scored.

    python examples/batch_scoring/schedule.py          # publish + schedule in the workspace of config.json
                                                       # (or AMLITE_ENDPOINT / AMLITE_STORAGE)
    python examples/batch_scoring/schedule.py --demo   # on a laptop, end to end (a minute or two)

``--demo`` starts Azurite and serves the Functions app in this process (amlite's dev host: HTTP API,
the schedules' timer and blob trigger), publishes and schedules against it, drops a few new files into
the watched folder, waits for the run the schedule starts, prints its predictions, then disables both
schedules so nothing fires later.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from scoring_pipeline import build_pipeline, write_inputs

from pipeline_core.core import Dataset, Workspace
from pipeline_core.pipeline.core.schedule import Schedule, ScheduleRecurrence, TimeZone

INCOMING = "batch_scoring/incoming/"
EXPERIMENT = "batch-scoring-scheduled"
# amlite fires a data-change schedule per changed blob; with a debounce, a burst of files that lands within
# this many seconds of each other starts one run (on the Functions app's next minute tick after the burst).
DEBOUNCE_SECONDS = 10


def publish_and_schedule(ws, incoming=INCOMING):
    """Publish the pipeline over the files in ``incoming`` and create its two schedules."""
    datastore = ws.get_default_datastore()
    # validate=False: the folder may still be empty; each run scores the files that are there when it starts.
    incoming_files = Dataset.File.from_files(path=(datastore, incoming + "**"), validate=False)
    published = build_pipeline(ws, incoming_files).publish(
        name="batch-scoring-scheduled", description=f"train -> batchscoring over {incoming}", version="1.0")

    nightly = Schedule.create(
        ws, name="batch-scoring-nightly", description="re-score the incoming files every night",
        pipeline_id=published.id, experiment_name=EXPERIMENT,
        # a start_time in the past: the first run is the next 02:00, not one right now
        recurrence=ScheduleRecurrence(frequency="Day", interval=1, hours=[2], minutes=[0],
                                      start_time="2024-01-01T00:00:00", time_zone=TimeZone.UTC))
    on_upload = Schedule.create(
        ws, name="batch-scoring-on-upload", description="score new files as they land",
        pipeline_id=published.id, experiment_name=EXPERIMENT,
        datastore=datastore, path_on_datastore=incoming,
        debounce_seconds=DEBOUNCE_SECONDS)
    return published, nightly, on_upload


def wait_for_run(schedule, timeout=300.0):
    """The newest run ``schedule`` started (waiting for its first), once it ended."""
    deadline = time.monotonic() + timeout
    while (run := schedule.get_last_pipeline_run()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"schedule {schedule.name} started no run within {timeout:.0f} s")
        time.sleep(0.5)
    run.wait_for_completion(show_output=False, timeout_seconds=max(1.0, deadline - time.monotonic()))
    return run


def predictions(run):
    """The lines of the batchscoring step's parallel_run_step.txt."""
    scores = run.find_step_run("batchscoring")[0].get_output_data("scores")
    folder = scores.download(tempfile.mkdtemp(prefix="scores-"), show_progress=False)
    with open(os.path.join(folder, "parallel_run_step.txt")) as handle:
        return handle.read().splitlines()


def demo(files=5, timeout=300.0):
    """Azurite + the Functions app in this process; drop ``files`` files; print the scheduled run's predictions."""
    from amlite_local.host import DevHost
    from pipeline_core.storage.azurite import ensure_azurite

    root = Path(__file__).resolve().parents[2]  # the Functions app root
    azurite = ensure_azurite(location=root / ".azurite")
    os.environ.update(AMLITE_STORAGE=azurite.connection_string, AzureWebJobsStorage=azurite.connection_string,
                      AMLITE_AUTH="none", AMLITE_QUIET="1")
    host = DevHost(root, "127.0.0.1", 0, load_settings=False).start()  # timers and blob triggers on
    try:
        ws = Workspace(storage=azurite.connection_string, endpoint=host.base_url)  # as config.json would give
        incoming = f"batch_scoring/demo-{time.strftime('%Y%m%d-%H%M%S')}/incoming/"
        published, nightly, on_upload = publish_and_schedule(ws, incoming)
        try:
            print(f"published pipeline {published.id} over {incoming}")
            print(f"schedule {nightly.name}: next runs {', '.join(nightly.get_next_fire_times(2))}")
            print(f"schedule {on_upload.name}: watches {on_upload.datastore_name}/{on_upload.path_on_datastore}")
            write_inputs(ws.get_default_datastore(), incoming, files, seed=int(time.time()))
            print(f"dropped {files} files into {incoming}; waiting for the run {on_upload.name} starts "
                  f"({DEBOUNCE_SECONDS} s after the last file, on the app's next minute tick)...")
            run = wait_for_run(on_upload, timeout)
            lines = predictions(run)
            print(f"run {run.id}: {run.get_status()}, {len(lines)} predictions, first:")
            print("\n".join(f"  {line}" for line in lines[:5]))
        finally:
            nightly.disable()
            on_upload.disable()
            print("schedules disabled")
    finally:
        host.stop()
        azurite.stop()
    return 0 if len(lines) == files else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run end to end on this machine, then clean up")
    parser.add_argument("--files", type=int, default=5, help="how many new files the demo drops")
    args = parser.parse_args()
    if args.demo:
        sys.exit(demo(args.files))
    ws = Workspace.from_config()
    published, nightly, on_upload = publish_and_schedule(ws)
    print(f"published pipeline {published.id}\n  {nightly!r}\n  {on_upload!r}")
    print(f"the Functions app (or `amlite dev`) fires them: drop files into {on_upload.datastore_name}/"
          f"{INCOMING} to score them; `amlite schedules history {on_upload.id}` shows what fired")
