"""The Runs page's query: every run, newest first, filtered by experiment, status and pipeline, one page at a time.

One partition-spanning query for the run rows only (``RowKey eq 'run'``, a few
columns) answers the filters, the counts and the choices of the filter menus
at once. That reads every run row, which is fine for the thousands of runs a
workspace keeps; an index per status would be the next step if it ever is not
(the ``experiments`` index already gives one experiment's runs newest first).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline_core.engine.services import Services
from pipeline_core.status import status_of
from pipeline_core.storage.run_store import RUN_ROW, decode

COLUMNS = ["PartitionKey", "experiment", "status", "created_time", "start_time", "end_time", "pipeline_id",
           "pipeline_endpoint_id", "run_source", "schedule_id", "parameters", "description", "submitted_by"]
PER_PAGE = 25


@dataclass
class RunsPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    experiments: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    pipelines: list[str] = field(default_factory=list)


def list_runs_page(services: Services, experiment: str | None = None, status: str | None = None,
                   pipeline: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> RunsPage:
    """``pipeline`` matches a published pipeline id or a pipeline endpoint id."""
    rows = [decode(e) for e in services.runs.runs.query_entities("RowKey eq @rk", parameters={"rk": RUN_ROW},
                                                                 select=COLUMNS)]
    experiments = sorted({str(r.get("experiment") or "") for r in rows} - {""})
    pipelines = sorted({str(r.get(k) or "") for r in rows for k in ("pipeline_id", "pipeline_endpoint_id")} - {""})
    if experiment:
        rows = [r for r in rows if r.get("experiment") == experiment]
    statuses = Counter(str(status_of(r.get("status"))) for r in rows)
    if status:
        rows = [r for r in rows if status_of(r.get("status")) == status]
    if pipeline:
        rows = [r for r in rows if pipeline in (r.get("pipeline_id"), r.get("pipeline_endpoint_id"))]
    rows.sort(key=lambda r: (str(r.get("created_time") or ""), r["PartitionKey"]), reverse=True)
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return RunsPage(rows[start:start + per_page], len(rows), page, pages, experiments, dict(sorted(statuses.items())),
                    pipelines)
