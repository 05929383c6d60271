"""``PipelineRun`` and ``StepRun``: following a run, its steps, logs and outputs (AML v1 names)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_core.backend import RunSource
from pipeline_core.errors import AmliteError, NotFoundError, StepFailedError
from pipeline_core.execution.logs import STD_LOG, STDERR_LOG, STDOUT_LOG
from pipeline_core.pipeline.core.run_details import input_datasets, log_files, output_datasets, run_definition
from pipeline_core.runcontext.run_records import RunRecordsMixin
from pipeline_core.safe_paths import safe_join
from pipeline_core.storage.blobs import download_prefix, list_prefix
from pipeline_core.storage.run_store import CHILD_RUNS_FIELD, FAILED, TERMINAL

if TYPE_CHECKING:
    from pipeline_core.core.experiment import Experiment
    from pipeline_core.engine.services import Services
    from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline


class PortDataReference:
    """Where a step output landed: ``datastore_name`` + ``path_on_datastore``, with ``download``."""

    def __init__(self, services: Services, name: str, datastore_name: str, path_on_datastore: str):
        self._services = services
        self.name = name
        self.datastore_name = datastore_name
        self.path_on_datastore = path_on_datastore

    @property
    def data_reference_name(self) -> str:
        return self.name

    @property
    def _path_on_datastore(self) -> str:  # AML's attribute, which its samples read
        return self.path_on_datastore

    def download(self, local_path: str, overwrite: bool = False, show_progress: bool = True) -> str:
        """Download to ``local_path/<path_on_datastore>`` as AML does; returns that folder.

        The path comes from the run's records (a spec's destination), so it is joined like any name from data.
        """
        container = self._services.container_for(self.datastore_name)
        target = safe_join(Path(local_path), self.path_on_datastore,
                           f"output {self.name!r} at {self.path_on_datastore!r} on datastore {self.datastore_name!r}")
        blobs = list_prefix(container, self.path_on_datastore.strip("/"))
        if [name for name, _, _ in blobs] == [self.path_on_datastore.strip("/")]:
            # An output that is one file (a HyperDrive or AutoML metrics output): that file at the path, as AML.
            if overwrite or not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as handle:
                    container.download_blob(blobs[0][0]).readinto(handle)
            if show_progress:
                print(f"Downloaded output {self.name!r} to {target}")
            return str(target)
        count = download_prefix(container, self.path_on_datastore, target, overwrite=overwrite)
        if show_progress:
            print(f"Downloaded {count} files of output {self.name!r} to {target}")
        return str(target)

    def __repr__(self) -> str:
        return (f"PortDataReference(name={self.name!r}, datastore_name={self.datastore_name!r}, "
                f"path_on_datastore={self.path_on_datastore!r})")


class StepRunOutput:
    def __init__(self, reference: PortDataReference):
        self._reference = reference
        self.name = reference.name

    def get_port_data_reference(self) -> PortDataReference:
        return self._reference


class _RowRun(RunRecordsMixin):
    """A run kept as a row of a pipeline run (a step, a step's child): id ``{pipeline run id}_{name}``, its
    records (metrics, tags, files) kept under that id in the pipeline run's workspace."""

    def __init__(self, pipeline_run: PipelineRun, row: dict[str, Any]):
        self.pipeline_run = pipeline_run
        self._row = row
        self.name: str = row["name"]
        self._records_id = f"{pipeline_run.id}_{self.name}"

    def _records_backend(self) -> Any:
        return self.pipeline_run._records_backend()

    def _records_workspace(self) -> Any:
        return self.pipeline_run.experiment.workspace


class StepRun(_RowRun):
    """One step of a pipeline run (with AML's ``Run`` methods for its metrics, tags and files)."""

    def get_children(self, recursive: bool = False, tags: Any = None, properties: Any = None,
                     type: str | None = None, status: str | None = None, _rehydrate_runs: bool = True
                     ) -> Iterator[ChildRun]:
        """The step's child runs (a HyperDriveStep's trials), in the order they started; ``status`` filters.

        A reused step shows the children of the run it reused.
        """
        row = self._refresh()
        source = self.pipeline_run._source
        if row.get("is_reused") and row.get("reused_run_id"):
            origin = self.pipeline_run.experiment.workspace.backend.run_source(str(row["reused_run_id"]))
            parent = PipelineRun(self.pipeline_run.experiment, str(row["reused_run_id"]), self._services, origin)
            return parent.find_step_run(str(row.get("reused_step") or self.name))[0].get_children(status=status)
        found = source.get_state().steps.get(self.name, {}).get(CHILD_RUNS_FIELD) or []
        return (ChildRun(self.pipeline_run, self, child) for child in found
                if status is None or child.get("status") == status)

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        """The metrics the step logged (``Run.get_context().log(...)``): ``{name: value or list}``."""
        found = {k: v for k, v in self.pipeline_run._source.get_metrics(self.name).get(self.name, {}).items()
                 if name is None or k == name}
        return ({self.id: found} if found else {}) if recursive else found

    @property
    def id(self) -> str:
        return f"{self.pipeline_run.id}_{self.name}"

    @property
    def properties(self) -> dict[str, Any]:
        """AML's run properties a step run has from the start: ``StepType`` (AML's samples find their
        AutoMLStep by it), ``azureml.runsource`` and, for a reused step, ``azureml.reusedrunid``."""
        return {"StepType": self._row.get("step_type"), "azureml.runsource": "azureml.StepRun",
                **({"azureml.reusedrunid": self._row["reused_run_id"]} if self._row.get("reused_run_id") else {})}

    @property
    def _services(self) -> Services:
        return self.pipeline_run._services

    def _refresh(self) -> dict[str, Any]:
        self._row = self.pipeline_run._source.get_step(self.name)
        return self._row

    def get_status(self) -> str:
        return str(self._refresh().get("status"))

    @property
    def status(self) -> str:
        return str(self._row.get("status"))

    @property
    def is_reused(self) -> bool:
        return bool(self._row.get("is_reused"))

    @property
    def reused_run_id(self) -> str | None:
        return self._row.get("reused_run_id") or None

    def get_details(self) -> dict[str, Any]:
        """AML's keys (``runId``, ``status``, ``target``, ``properties``, ``runDefinition``, ``logFiles``,
        ``inputDatasets``, ``outputDatasets``) and amlite's (reuse, attempt, outputs, progress, and ``remote``:
        a DatabricksStep's Databricks run, with its ``run_page_url``)."""
        row = self._refresh()
        step, data = self._spec_entry()
        recorded = row.get("recorded") or (step or {}).get("recorded") or {}
        properties = {"recorded": recorded, "azureml.runsource": "azureml.StepRun",
                      "StepType": (step or {}).get("type") or row.get("step_type"),
                      **({"azureml.reusedrunid": row["reused_run_id"]} if row.get("reused_run_id") else {})}
        return {"runId": self.id, "name": self.name, "status": row.get("status"),
                "target": recorded.get("compute_target") or "local",
                "startTimeUtc": row.get("start_time") or None, "endTimeUtc": row.get("end_time") or None,
                "is_reused": bool(row.get("is_reused")), "reused_run_id": row.get("reused_run_id") or None,
                "attempt": int(row.get("attempt") or 0), "reuse": row.get("reuse"), "error": row.get("error"),
                "outputs": row.get("outputs") or {}, "progress": row.get("progress") or None,
                "remote": row.get("remote") or None,
                "properties": properties, "runDefinition": run_definition(step),
                "logFiles": log_files(row, self.pipeline_run.id, self.name),
                "inputDatasets": input_datasets(step, data), "outputDatasets": output_datasets(row)}

    def _spec_entry(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """This step's spec entry and the spec's data table; (None, {}) when the spec cannot be read here."""
        try:
            spec = self._services.load_spec(self.pipeline_run._source.get_run()["graph_id"])
            return dict(spec.step(self.name)), dict(spec.data)
        except Exception:  # a remote workspace without storage access: the AML keys stay, emptier
            return None, {}

    def get_outputs(self) -> dict[str, StepRunOutput]:
        outputs = self._refresh().get("outputs") or {}
        return {name: StepRunOutput(PortDataReference(self._services, name, loc["datastore"], loc["path"]))
                for name, loc in outputs.items()}

    def get_output(self, name: str) -> StepRunOutput:
        return StepRunOutput(self.get_output_data(name))

    def get_output_data(self, name: str) -> PortDataReference:
        outputs = self.get_outputs()
        if name not in outputs:
            have = ", ".join(sorted(outputs)) or "none (has the step finished?)"
            raise NotFoundError(f"step {self.name!r} has no output {name!r}; its outputs: {have}")
        return outputs[name].get_port_data_reference()

    def _log(self, file: str) -> str:
        data, _ = self.pipeline_run._source.read_log(self.name, file)
        return data.decode("utf-8", errors="replace")

    def get_job_log(self) -> str:
        return self._log(STD_LOG)

    def get_stdout_log(self) -> str:
        return self._log(STDOUT_LOG)

    def get_stderr_log(self) -> str:
        return self._log(STDERR_LOG)

    def __repr__(self) -> str:
        return f"StepRun(name={self.name!r}, status={self.status!r})"


class ChildRun(_RowRun):
    """A child run of a step (a HyperDrive trial): id ``{pipeline run id}_{child name}``, status, metrics, files."""

    def __init__(self, pipeline_run: PipelineRun, parent: StepRun, row: dict[str, Any]):
        super().__init__(pipeline_run, row)
        self.parent = parent

    @property
    def id(self) -> str:
        return self._records_id

    @property
    def status(self) -> str:
        return str(self._row.get("status"))

    def get_status(self) -> str:
        for child in StepRun.get_children(self.parent):  # the rows, whatever a kind's StepRun returns
            if child.name == self.name:
                self._row = child._row
        return self.status

    def get_parameters(self) -> dict[str, Any]:
        """The sampled hyperparameters this child ran with."""
        return dict(self._row.get("parameters") or {})

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        found = {k: v for k, v in self.pipeline_run._source.get_metrics(self.name).get(self.name, {}).items()
                 if name is None or k == name}
        return ({self.id: found} if found else {}) if recursive else found

    def get_details(self) -> dict[str, Any]:
        return {"runId": self.id, "status": self.status, "parentRunId": self.parent.id,
                "startTimeUtc": self._row.get("start_time") or None, "endTimeUtc": self._row.get("end_time") or None,
                "error": self._row.get("error"), "properties": {"hyperparameters": self.get_parameters()}}

    def get_job_log(self) -> str:
        data, _ = self.pipeline_run._source.read_log(self.name, STD_LOG)
        return data.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"ChildRun(id={self.id!r}, status={self.status!r})"


class PipelineRun(RunRecordsMixin):
    """A submitted pipeline. Reads its state through the workspace's backend: the run's partition in Table
    storage, or, when the workspace has an ``endpoint``, the REST API (same rows: see ``backend.RunSource``)."""

    def __init__(self, experiment: Experiment, run_id: str, _services: Services | None = None,
                 _source: RunSource | None = None):
        from pipeline_core.engine.services import services_for  # engine -> spec -> pipeline.core: on use

        self.experiment = experiment
        self.id = run_id
        # Outputs are downloaded from the workspace's storage on both paths (as AML downloads from the datastore).
        self._services = _services or services_for(experiment.workspace.storage)
        self._source: RunSource = _source or experiment.workspace.backend.run_source(run_id)
        self._records_id = run_id

    def _records_backend(self) -> Any:
        # engine -> spec -> pipeline.core: imported on use
        from pipeline_core.runcontext.store_backend import StoreBackend

        return StoreBackend(self._services)

    def _records_workspace(self) -> Any:
        return self.experiment.workspace

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        """AML's shape: the run's own metrics (``run.parent.log`` in a step); with ``recursive``,
        ``{run id: {name: value}}`` for the run and each step run that logged any."""
        found = {step: {k: v for k, v in metrics.items() if name is None or k == name}
                 for step, metrics in self._source.get_metrics().items()}
        if not recursive:
            return found.get("", {})
        return {(f"{self.id}_{step}" if step else self.id): m for step, m in found.items() if m}

    @property
    def run_id(self) -> str:
        return self.id

    def get_status(self) -> str:
        return str(self._source.get_run().get("status"))

    @property
    def status(self) -> str:
        return self.get_status()

    def get_details(self) -> dict[str, Any]:
        run = self._source.get_run()
        return {"runId": self.id, "status": run.get("status"), "experiment": run.get("experiment"),
                "startTimeUtc": run.get("start_time") or None, "endTimeUtc": run.get("end_time") or None,
                "createdTimeUtc": run.get("created_time"), "parameters": run.get("parameters") or {},
                "graphId": run.get("graph_id"), "pipelineId": run.get("pipeline_id") or None,
                "error": run.get("error"), "description": run.get("description"), "tags": run.get("tags") or {},
                "runSource": run.get("run_source"), "target": "local", "logFiles": {},
                "inputDatasets": [], "outputDatasets": [], "runDefinition": {},
                "properties": {"azureml.runsource": "azureml.PipelineRun", "runSource": run.get("run_source"),
                               "azureml.pipelineid": run.get("pipeline_id") or None}}

    def get_tags(self) -> dict[str, str]:
        """Tags given at submit, and (local workspace) those set since, e.g. by a step's ``run.parent.tag``."""
        return self._source.get_tags()

    def get_steps(self) -> list[StepRun]:
        """Steps in reverse start order, as AML returns them (unstarted steps last)."""
        rows = list(self._source.get_state().steps.values())
        rows.sort(key=lambda r: (r.get("start_time") or "", -int(r.get("index") or 0)), reverse=True)
        return [self._step_run(row) for row in rows]

    def find_step_run(self, name: str) -> list[StepRun]:
        return [self._step_run(row) for row in self._source.get_state().steps.values() if row["name"] == name]

    def _step_run(self, row: dict[str, Any]) -> StepRun:
        """The step's run as its kind has it: a ``StepRun``, or the kind's subclass (an ``AutoMLStepRun``)."""
        from pipeline_core.engine.step_kinds import find_step_kind

        kind = find_step_kind(row.get("step_type"))
        cls = kind.step_run_class() if kind is not None else None
        return cls(pipeline_run=self, row=row) if cls is not None else StepRun(self, row)

    def get_children(self, recursive: bool = False, tags: Any = None, properties: Any = None,
                     type: str | None = None, status: str | None = None, _rehydrate_runs: bool = True
                     ) -> Iterator[StepRun]:
        """AML's child runs of a pipeline run: its step runs (``status`` filters them)."""
        return (step for step in self.get_steps() if status is None or step.get_status() == status)

    def get_pipeline_output(self, pipeline_output_name: str) -> PortDataReference:
        """The output declared with ``PipelineData(..., pipeline_output_name=...)``, as a PortDataReference."""
        spec = self._services.load_spec(self._source.get_run()["graph_id"])
        named = {name: data_id for data_id, entry in spec.data.items() if (name := entry.get("pipeline_output_name"))}
        data_id = named.get(pipeline_output_name)
        if data_id is None:
            declared = ", ".join(sorted(named)) or "none"
            raise NotFoundError(f"run {self.id!r} has no pipeline output named {pipeline_output_name!r} "
                                f"(declared: {declared}); give PipelineData(pipeline_output_name=...)")
        producer = next(s["name"] for s in spec.steps if data_id in s.get("outputs", []))
        return self.find_step_run(producer)[0].get_output_data(data_id)

    def publish_pipeline(self, name: str, description: str, version: str,
                         continue_on_step_failure: bool | None = None, **kwargs: Any) -> PublishedPipeline:
        """Publish the exact graph this run ran (same spec blob and snapshots), as AML v1 does."""
        # published_pipeline imports this module (its submit answers PipelineRuns)
        from pipeline_core.pipeline.core.published_pipeline import PublishedPipeline

        spec = self._services.load_spec(self._source.get_run()["graph_id"])
        record = self.experiment.workspace.backend.publish(spec, name, description, version, continue_on_step_failure)
        return PublishedPipeline._from_record(self.experiment.workspace, record)

    def cancel(self) -> None:
        self._source.cancel()

    def wait_for_completion(self, show_output: bool = True, timeout_seconds: float = sys.maxsize,
                            raise_on_error: bool = True) -> str:
        """Poll until the run ends; with ``show_output`` print each step's status changes and its log."""
        from pipeline_core.progress import follow  # rich loads only when a run is followed

        status = follow(self._source, show_output=show_output, timeout_seconds=timeout_seconds)
        if status not in TERMINAL:
            raise AmliteError(f"run {self.id} did not finish within {timeout_seconds} s (status {status})")
        if status == FAILED and raise_on_error:
            error = self._source.get_run().get("error") or {}
            raise StepFailedError(f"run {self.id} failed: {error.get('message', 'see the step logs')}")
        return status

    def __repr__(self) -> str:
        return f"PipelineRun(experiment={self.experiment.name!r}, id={self.id!r})"


def wait_all(runs: list[PipelineRun], poll: float = 0.5) -> None:
    while any(r.get_status() not in TERMINAL for r in runs):
        time.sleep(poll)
