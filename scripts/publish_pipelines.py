"""Publish each driver's pipeline and write the marker CSV the release keeps (name, id, endpoint URL).

    python scripts/publish_pipelines.py --version v1.2.0 --out published-pipelines.csv examples/*/driver.py

Each driver file defines ``pipeline`` (as ``amlite run`` / ``amlite validate``
expect); it is loaded with its folder on ``sys.path``, so drivers importing
their neighbours work. The pipeline is published under the driver folder's
name, and the pipeline endpoint of that name gets it as its new default version
(created on the first release), so a caller such as Data Factory can keep one
URL across releases. The workspace is ``Workspace.from_config()``: in CI the
``AMLITE_*`` variables from azd's outputs (docs/deploy.md: CI/CD).

Columns: name, id (the published pipeline), endpoint (its submit URL),
pipeline_endpoint_id, pipeline_endpoint_url, version. Exit 2 when a driver
defines no pipeline; nothing is published then.
"""

from __future__ import annotations

import argparse
import csv
import runpy
import sys
from pathlib import Path
from typing import Any

from pipeline_core.errors import NotFoundError
from pipeline_core.pipeline.core import Pipeline, PipelineEndpoint

COLUMNS = ("name", "id", "endpoint", "pipeline_endpoint_id", "pipeline_endpoint_url", "version")


class DriverError(Exception):
    """A driver file that cannot be published; the message names it."""


def load_pipeline(driver: Path) -> Pipeline:
    """The ``pipeline`` a driver file defines (its ``if __name__ == '__main__'`` part does not run)."""
    sys.path.insert(0, str(driver.parent.resolve()))
    try:
        namespace = runpy.run_path(str(driver), run_name="__amlite__")
    finally:
        sys.path.remove(str(driver.parent.resolve()))
    pipeline = namespace.get("pipeline")
    if not isinstance(pipeline, Pipeline):
        raise DriverError(f"{driver} defines no Pipeline named `pipeline` (as `amlite validate` expects)")
    return pipeline


def publish(driver: Path, pipeline: Pipeline, version: str) -> dict[str, Any]:
    """Publish ``pipeline`` under its driver folder's name and make it that pipeline endpoint's default."""
    name = driver.resolve().parent.name
    description = pipeline.description or f"{name} ({driver.name})"
    published = pipeline.publish(name=name, description=description, version=version)
    try:
        endpoint = PipelineEndpoint.get(pipeline.workspace, name=name)
        endpoint.add_default(published)
    except NotFoundError:
        endpoint = PipelineEndpoint.publish(pipeline.workspace, name=name, description=description,
                                            pipeline=published)
    return {"name": name, "id": published.id, "endpoint": published.endpoint, "pipeline_endpoint_id": endpoint.id,
            "pipeline_endpoint_url": endpoint.endpoint, "version": version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drivers", nargs="+", type=Path, help="driver files, each defining `pipeline`")
    parser.add_argument("--out", type=Path, required=True, help="the marker CSV to write")
    parser.add_argument("--version", required=True, help="the release, recorded as the published version")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.drivers if not d.is_file()]
    if missing:
        parser.error(f"no such driver file: {', '.join(missing)}")
    try:
        pipelines = [(driver, load_pipeline(driver)) for driver in args.drivers]  # all load before any publish
    except DriverError as exc:
        print(f"publish_pipelines: {exc}", file=sys.stderr)
        return 2
    rows = [publish(driver, pipeline, args.version) for driver, pipeline in pipelines]
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(f"{row['name']}: {row['id']} -> {row['endpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
