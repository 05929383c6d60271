"""CPU of one small blob's GET in the host: ``BlobGetter.get`` against the ways it could go instead.

A ParallelRunStep's host downloads every mini-batch's files itself, on the cores its workers score
on, so each GET's CPU is taken from the scoring (1,000 one-file mini-batches are 1,000 GETs). Measured
in one run, interleaved, over the same files on the same Azurite:

- ``BlobGetter.get``: a bare GET through urllib3's pool manager, read access prepared once (what
  amlite does);
- the same GET on the container host's connection pool by path, skipping the manager's parse of the
  whole SAS URL (tried in round six: no difference this bench can see, so not adopted);
- the Storage SDK's ``download_blob(...).readinto`` (a general-purpose client: policies, a downloader
  object, header deserialisation).

CPU is this process's (``time.process_time``), so Azurite's share is not in it.
Usage: ``python bench/blob_get.py [--files 500] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AMLITE_QUIET", "1")

from pipeline_core import Workspace  # noqa: E402
from pipeline_core.parallel.fetch import BlobGetter, http_pool  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

PREFIX = "bench/blob-get"


def cpu_ms_per_get(get: Callable[[str, str], None], names: list[str], target: str) -> float:
    started = time.process_time()
    for name in names:
        get(name, target)
    return (time.process_time() - started) / len(names) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    azurite = ensure_azurite(temporary=True)
    try:
        container = Workspace(storage=azurite.connection_string).get_default_datastore()._container
        names = [f"{PREFIX}/f{i:05d}.bin" for i in range(args.files)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda n: container.upload_blob(n, n.encode(), overwrite=True), names))
        getter = BlobGetter(container)
        auth = getter._prepare()
        if auth is None:
            raise SystemExit("BlobGetter cannot read this storage bare (a proxy in the environment?)")
        query, headers = auth

        path = urlsplit(getter.base).path.rstrip("/")

        def by_path(name: str, target: str) -> None:
            response = http_pool().connection_from_url(getter.base).request(
                "GET", f"{path}/{quote(name)}{query}", headers=headers)
            with open(target, "wb") as handle:
                handle.write(response.data)

        def by_sdk(name: str, target: str) -> None:
            with open(target, "wb") as handle:
                container.download_blob(name).readinto(handle)

        ways: dict[str, Callable[[str, str], None]] = {
            "BlobGetter.get (pool manager, full URL)": lambda n, t: getter.get(n, t, 16),
            "host's pool, by path": by_path,
            "Storage SDK download_blob": by_sdk,
        }
        # In RAM, as a mini-batch's small inputs are (``WorkerPool.scratch_for``): on a journaling disk the
        # file's creation costs more CPU than the GET.
        scratch = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        found: dict[str, list[float]] = {label: [] for label in ways}
        with tempfile.TemporaryDirectory(prefix="amlite-bench-", dir=scratch) as folder:
            target = os.path.join(folder, "blob")
            for get in ways.values():  # warm: connections, imports
                cpu_ms_per_get(get, names[:20], target)
            for _ in range(args.rounds):
                for label, get in ways.items():
                    found[label].append(cpu_ms_per_get(get, names, target))
        ours = statistics.median(found[next(iter(ways))])
        print(f"CPU per GET of a small blob, this process, {args.files} files x {args.rounds} interleaved rounds "
              "(median, min-max):")
        for label, values in found.items():
            median = statistics.median(values)
            print(f"  {label:38} {median:.3f} ms ({min(values):.3f}-{max(values):.3f})   "
                  f"{median / ours:.2f}x BlobGetter.get")
        return 0
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
