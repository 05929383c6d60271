"""Where an AutoMLStep's child runs and best model are kept, and the ``AutoMLRun`` read back from them.

Why a blob beside the step's log, not rows: a search can run hundreds of trials, each with ~20
metrics and its hyperparameters; as rows in the run's partition they would be read by every state
query of the run, and as a field of the step row they would outgrow a Table property. One JSON
document per step run (``logs/{run id}/{step}/automl/children.json``), written once when the search
ends, holds them; the step row keeps a summary (``search``: task, primary metric, best child, count).
The best model is kept there too (``model.pkl``), so ``get_output()`` works whatever outputs the
step declared. A reused step answers with the records of the run it reused.
"""

from __future__ import annotations

import json
import pickle
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import NotFoundError
from pipeline_core.execution.logs import LOGS_CONTAINER
from pipeline_core.storage.run_store import FINISHED

if TYPE_CHECKING:
    from pipeline_core.engine.services import Services
    from pipeline_core.train.automl.run import AutoMLRun

CHILDREN_FILE, MODEL_FILE = "children.json", "model.pkl"


def records_prefix(run_id: str, step: str) -> str:
    return f"{run_id}/{step}/automl"


def save_records(services: Services, run_id: str, step: str, document: dict[str, Any], model: bytes) -> None:
    """Keep the search's trials and the best model of step ``step`` of run ``run_id`` (idempotent: overwrites)."""
    container = services.account.container(LOGS_CONTAINER)
    prefix = records_prefix(run_id, step)
    container.upload_blob(f"{prefix}/{MODEL_FILE}", model, overwrite=True)
    container.upload_blob(f"{prefix}/{CHILDREN_FILE}", json.dumps(document).encode(), overwrite=True)


def _origin(run_id: str, row: dict[str, Any]) -> tuple[str, str]:
    """(run id, step name) of the run that trained: the step's own, or the run a reused step reused."""
    if row.get("is_reused") and row.get("reused_run_id"):
        return str(row["reused_run_id"]), str(row.get("reused_step") or row["name"])
    return run_id, str(row["name"])


def load_automl_run(services: Services, experiment: Any, run_id: str, row: dict[str, Any],
                    step_run_id: str | None = None) -> AutoMLRun:
    """The ``AutoMLRun`` of an AutoMLStep's row: its children (trials), best child, and a loader of the model."""
    from pipeline_core.train.automl.run import AutoMLChildRun, AutoMLRun

    origin_run, origin_step = _origin(run_id, row)
    if row.get("status") != FINISHED:
        raise NotFoundError(f"AutoML step {row.get('name')!r} of run {run_id} is {row.get('status')}: its child "
                            "runs and model exist once it has Finished")
    container = services.account.container(LOGS_CONTAINER)
    prefix = records_prefix(origin_run, origin_step)
    try:
        document = json.loads(container.download_blob(f"{prefix}/{CHILDREN_FILE}").readall())
    except Exception as exc:  # noqa: BLE001 - missing or unreadable: say which step and why
        raise NotFoundError(f"the AutoML records of step {origin_step!r} of run {origin_run} cannot be read "
                            f"({type(exc).__name__}); was the step an AutoMLStep that finished?") from None
    parent = f"{origin_run}_{origin_step}"
    children = [AutoMLChildRun(id=f"{parent}_{t['iteration']}", iteration=int(t["iteration"]),
                               algorithm=t["algorithm"], metrics=dict(t["metrics"]),
                               hyperparameters=dict(t.get("hyperparameters") or {}), parent_run_id=parent)
                for t in document["trials"]]

    def model() -> Any:
        return pickle.loads(container.download_blob(f"{prefix}/{MODEL_FILE}").readall())

    return AutoMLRun(experiment, step_run_id or parent, children=children, task=document["task"],
                     primary_metric=document["primary_metric"], best_iteration=int(document["best_iteration"]),
                     model_loader=model, properties={"stop_reason": document.get("stop_reason"),
                                                     "validation": document.get("validation")})


def find_step_run(services: Services, step_run_id: str) -> tuple[str, dict[str, Any]]:
    """(pipeline run id, step row) of a step run id ``{pipeline run id}_{step name}`` (either may hold ``_``)."""
    cut = step_run_id.find("_")
    while cut != -1:
        run_id, step = step_run_id[:cut], step_run_id[cut + 1:]
        try:
            return run_id, services.runs.get_step(run_id, step)
        except Exception:  # noqa: BLE001 - not this split: try the next underscore
            pass
        cut = step_run_id.find("_", cut + 1)
    raise NotFoundError(f"no step run {step_run_id!r}: give the id of an AutoMLStep's run "
                        "(pipeline_run.find_step_run(name)[0].id)")
