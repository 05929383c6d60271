"""DataTransferStep (server-side copy) against a script step copying through the worker, in one pipeline run.

Run: `python bench/transfer_step.py [--mib N]` (default 1024, the issue's 1 GiB; `--mib 64` for a
quick run). Azurite is reused on the configured ports or started in memory. One pipeline run
holds both steps, one after the other so they do not share the CPU:

- `transfer`: DataTransferStep, a DataReference to the blob -> a PipelineData output (Copy Blob:
  the storage service moves the bytes, the worker sends one request);
- `through_worker`: PythonScriptStep with the same DataReference as input and a PipelineData
  output; the engine downloads the input, the script copies the file, the engine uploads it --
  what `azcopy`-style download + upload does on a worker.

Each step's time is its row's start to end (the work only, not the orchestration around it);
both outputs are checked to hold the whole blob.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

os.environ.setdefault("AMLITE_QUIET", "1")

from pipeline_core import (  # noqa: E402
    DataReference,
    Datastore,
    DataTransferStep,
    Experiment,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    Workspace,
)
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

MIB = 1024 * 1024
COPY = ("import shutil, sys, pathlib\n"
        "source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "out.mkdir(parents=True, exist_ok=True)\n"
        "shutil.copyfile(source, out / source.name)\n")


def _seconds(step) -> float:  # type: ignore[no-untyped-def]
    details = step.get_details()
    start, end = (datetime.fromisoformat(str(details[k]).replace("Z", "+00:00")) for k in ("startTimeUtc", "endTimeUtc"))
    return (end - start).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="blob size in MiB (default 1024)")
    size = parser.parse_args().mib
    azurite = ensure_azurite(temporary=True)
    try:
        ws = Workspace(storage=azurite.connection_string)
        store = ws.get_default_datastore()
        name = f"bench/{uuid.uuid4().hex[:8]}/data.bin"
        block = os.urandom(MIB)
        started = time.perf_counter()
        store._container.upload_blob(name, (block for _ in range(size)), length=size * MIB, max_concurrency=4)
        print(f"{size} MiB blob uploaded in {time.perf_counter() - started:.1f} s (set-up, not measured)")

        src = Path(tempfile.mkdtemp(prefix="amlite-bench-transfer-"))
        (src / "copy.py").write_text(COPY)
        source = DataReference(store, path_on_datastore=name, data_reference_name="big")
        copied, through = PipelineData("copied"), PipelineData("through")
        transfer = DataTransferStep("transfer", source_data_reference=source, destination_data_reference=copied,
                                    allow_reuse=False)
        worker = PythonScriptStep("copy.py", name="through_worker", arguments=[source, through], inputs=[source],
                                  outputs=[through], source_directory=str(src), allow_reuse=False)
        worker.run_after(transfer)
        started = time.perf_counter()
        run = Experiment(ws, f"bench-transfer-{uuid.uuid4().hex[:6]}").submit(Pipeline(ws, [transfer, worker]))
        status = run.wait_for_completion(show_output=False, raise_on_error=False)
        wall = time.perf_counter() - started
        if status != "Finished":
            sys.exit(f"run {run.id} ended {status}: {run.get_details().get('error')}")
        server_side = _seconds(run.find_step_run("transfer")[0])
        through_worker = _seconds(run.find_step_run("through_worker")[0])
        outputs = Datastore.get(ws, "pipelinedata")._container
        for output in ("copied", "through"):
            blobs = list(outputs.list_blobs(name_starts_with=f"azureml/{run.id}_"))
            sizes = [b.size for b in blobs if f"/{output}/" in b.name]
            assert sizes == [size * MIB], (output, sizes)
        print(f"one pipeline run ({wall:.1f} s end to end), Azurite, {size} MiB:")
        print(f"  DataTransferStep (server-side copy)        : {server_side:7.2f} s")
        print(f"  PythonScriptStep (download + upload)       : {through_worker:7.2f} s")
        print(f"  speed-up {through_worker / max(server_side, 1e-6):.1f}x")
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
