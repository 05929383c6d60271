"""AML v1 ``Run``: ``Run.get_context()`` inside a step, offline outside one; metrics, tags, files, models.

Inside a step the run is reached through the host's run context service (the
step holds no storage secret; see ``pipeline_core.runcontext.server``). Outside
one, ``Run.get_context()`` is an offline run that prints what it is given and
never fails, as AML's is; ``Run(experiment, run_id)`` and ``Run.get(ws, id)``
read and write a run in the workspace's storage. ``StepRun`` and
``PipelineRun`` share the record methods through ``RunRecordsMixin``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pipeline_core.errors import AmliteError
from pipeline_core.exceptions import RunEnvironmentException
from pipeline_core.runcontext.run_records import RunRecordsMixin

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.core.workspace import Workspace

STEP_RUN_TYPE, PIPELINE_RUN_TYPE = "azureml.StepRun", "azureml.PipelineRun"


class _StepWorkspace:
    """``run.experiment.workspace`` inside a step: names only, and the run context for ``Model``.

    It has no storage: a step never holds the host's credentials. Datastores, datasets and
    published pipelines are reached from the driver, and data is passed to a step as its inputs.
    """

    def __init__(self, info: dict[str, Any], backend: Any):
        self.name = info.get("name") or "local"
        self.subscription_id = info.get("subscription_id") or ""
        self.resource_group = info.get("resource_group") or ""
        self.location = info.get("location") or ""
        self._run_context_backend = backend

    def __getattr__(self, name: str) -> Any:
        raise AmliteError(f"workspace.{name} is not available inside a step: a step holds no storage credential. "
                          "Use Run.get_context() for the run and Model(...)/Model.get_model_path(...) for models, "
                          "and pass data to the step as its inputs")

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, from=run context)"


class Run(RunRecordsMixin):
    """A run: inside a step, the step's own run (``Run.get_context()``); outside, a run in a workspace."""

    def __init__(self, experiment: Experiment, run_id: str, outputs: Any = None, **kwargs: Any):
        self._experiment: Experiment | None = experiment
        self._records_id = run_id
        self._backend: Any = kwargs.get("_backend")
        self._info: dict[str, Any] | None = kwargs.get("_info")

    # -- where it is -------------------------------------------------------------------
    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any) -> Run:
        """The step's run inside a step; outside one, an offline run (or RunEnvironmentException)."""
        from pipeline_core.runcontext.client import context_backend

        backend = context_backend()
        run_id = os.environ.get("AZUREML_RUN_ID")
        if backend is None or not run_id:
            if not allow_offline:
                raise RunEnvironmentException("Run.get_context(allow_offline=False) was called outside a step; "
                                              "only a running step has a run context")
            from pipeline_core.runcontext.offline import _OfflineRun

            return _OfflineRun()
        return _step_run(backend, run_id)

    @staticmethod
    def get(workspace: Workspace, run_id: str) -> Run:
        """A pipeline run or step run (``{pipeline run id}_{step}``) of the workspace, by id."""
        from pipeline_core.core.experiment import Experiment
        from pipeline_core.engine.services import services_for
        from pipeline_core.runcontext.store_backend import StoreBackend

        backend = StoreBackend(services_for(workspace.storage))
        info = backend.details(run_id)
        return Run(Experiment(workspace, info["experiment"]), run_id, _backend=backend, _info=info)

    def _records_backend(self) -> Any:
        if self._backend is None:
            from pipeline_core.engine.services import services_for
            from pipeline_core.runcontext.store_backend import StoreBackend

            assert self._experiment is not None
            self._backend = StoreBackend(services_for(self._experiment.workspace.storage))
        return self._backend

    def _details(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._records_backend().details(self._records_id)
        return self._info

    def _records_workspace(self) -> Any:
        return self.experiment.workspace

    # -- AML's attributes ----------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._records_id

    @property
    def name(self) -> str:
        return str(self._details().get("step") or self._records_id)

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def type(self) -> str:
        return STEP_RUN_TYPE if self._details().get("step") else PIPELINE_RUN_TYPE

    @property
    def experiment(self) -> Experiment:
        if self._experiment is None:
            from pipeline_core.core.experiment import Experiment

            info = self._details()
            workspace: Any = _StepWorkspace(info.get("workspace") or {}, self._records_backend())
            self._experiment = Experiment(workspace, info["experiment"])
        return self._experiment

    @property
    def parent(self) -> Run | None:
        parent_id = self._details().get("parent_id")
        if not parent_id:
            return None
        return Run(self._experiment, parent_id, _backend=self._records_backend())  # type: ignore[arg-type]

    @property
    def tags(self) -> dict[str, str]:
        return self.get_tags()

    @property
    def properties(self) -> dict[str, str]:
        return self.get_properties()

    @property
    def status(self) -> str:
        return self.get_status()

    def get_status(self) -> str:
        self._info = None
        return str(self._details().get("status") or "")

    def get_details(self) -> dict[str, Any]:
        info = dict(self._details())
        return {"runId": self.id, "status": info.get("status"), "target": "local",
                "properties": self.get_properties(), "inputDatasets": list(info.get("inputs") or []),
                "outputDatasets": list(info.get("outputs") or [])}

    @property
    def input_datasets(self) -> dict[str, Any]:
        """Each named input of the step: a tabular dataset as a ``TabularDataset`` (as in AML, read with
        ``to_pandas_dataframe()``); file datasets, PipelineData and DataReferences as their local path."""
        details = self._details()
        tabular = details.get("tabular_inputs") or {}
        found: dict[str, Any] = {}
        for name in details.get("inputs") or {}:
            path = os.environ.get(f"AZUREML_DATAREFERENCE_{name.replace(':', '_')}")
            if path is not None and name in tabular:
                from pipeline_core.data.tabular_dataset import StepInputTabularDataset

                found[name] = StepInputTabularDataset(tabular[name], path)
            elif path is not None:
                found[name] = path
        return found

    @property
    def output_datasets(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in self._details().get("outputs") or []:
            path = os.environ.get(f"AZUREML_DATAREFERENCE_{name.replace(':', '_')}")
            if path is not None:
                found[name] = path
        return found

    # -- lifecycle: the step's exit code decides its status ---------------------------------
    def complete(self, _set_status: bool = True) -> None:
        self.flush()

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        """Recorded as the tag ``amlite.fail``; the step still ends by its exit code (raise or exit non-zero)."""
        self.tag("amlite.fail", str(error_details or error_code or "run.fail() was called"))
        self.flush()

    def cancel(self) -> None:
        self.flush()

    def start(self) -> None:
        """Runs here start when their step starts."""

    def __repr__(self) -> str:
        return f"Run(id={self._records_id!r}, type={self.type!r})"


_step_runs: dict[str, Run] = {}


def _step_run(backend: Any, run_id: str) -> Run:
    found = _step_runs.get(run_id)
    if found is None or found._backend is not backend:
        found = Run(None, run_id, _backend=backend)  # type: ignore[arg-type]
        _step_runs[run_id] = found
    return found


__all__ = ["Run", "RunRecordsMixin"]  # the mixin is re-exported for StepRun and PipelineRun
