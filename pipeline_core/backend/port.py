"""The one interface the SDK classes call for everything that lives in a workspace.

Why a port: ``PublishedPipeline``, ``PipelineEndpoint``, ``PipelineRun``,
``Schedule`` and ``Experiment`` mean the same thing whether the workspace is
this machine's storage or an amlite Functions app reached over REST. Only the
transport differs, so each SDK method is written once against
:class:`WorkspaceBackend` and the workspace picks the implementation once, when
it is made (``Workspace.backend``): :class:`~pipeline_core.backend.local.LocalBackend`
(storage + the application use cases) or
:class:`~pipeline_core.backend.remote.RemoteBackend` (the REST client). No SDK
method asks which one it has.

Both sides answer in the same plain records (``PipelineRecord``,
:class:`EndpointView`, run-store rows, the REST API's schedule JSON), so the SDK
objects are built the same way and cannot behave differently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pipeline_core.execution.logs import STD_LOG
from pipeline_core.storage.endpoint_store import EndpointView

if TYPE_CHECKING:
    from pipeline_core.schedules.validation import ScheduleDefinition
    from pipeline_core.spec import PipelineSpec
    from pipeline_core.storage.pipeline_store import PipelineRecord
    from pipeline_core.storage.run_store import RunState

#: A schedule as the REST API shows it (``Id``, ``Name``, ``Status``, ``Recurrence`` ...); both backends answer it.
ScheduleEntity = dict[str, Any]
#: ``Experiment.submit`` keywords as given (``pipeline_parameters``, ``continue_on_step_failure``,
#: ``regenerate_outputs``, ``description``, ``parent_run_id``, ``credential_passthrough``); checked by the SDK.
SubmitKeywords = dict[str, Any]

__all__ = ["EndpointView", "RunSource", "ScheduleEntity", "SubmitKeywords", "WorkspaceBackend"]


class RunSource(Protocol):
    """The reads and the one write (cancel) that following one run needs.

    Why an interface: following a run (statuses, step rows, log tails, cancel)
    is the same logic whichever side of the Functions app the SDK is on, so
    ``PipelineRun``, ``StepRun`` and ``progress.follow`` are written once
    against it. Rows keep the run store's shape (``status``, ``start_time``,
    ``is_reused``, ``outputs`` ...) on both sides.
    """

    run_id: str
    #: A sensible polling interval for this source (a REST round trip costs more than a Table read).
    poll_seconds: float

    def get_run(self) -> dict[str, Any]: ...

    def get_state(self) -> RunState: ...

    def get_step(self, name: str) -> dict[str, Any]: ...

    def get_tags(self) -> dict[str, str]:
        """The run's tags: those given at submit, and where the records are at hand, those set since."""
        ...

    def read_log(self, step: str, file: str = STD_LOG, offset: int = 0) -> tuple[bytes, int]:
        """Log bytes from ``offset`` on, and the offset to continue from."""
        ...

    def cancel(self) -> None: ...

    def get_metrics(self, step: str | None = None) -> dict[str, dict[str, Any]]:
        """Metrics logged in the run: ``{step name: {name: value}}``, "" for the run's own.

        ``step`` narrows the read to that step (or child run) alone: iterating a search's hundreds of
        child runs must not read every child's metrics for each one."""
        ...

    def wait_for_change(self, poll: float, limit: float) -> None:
        """Sleep for the poll interval ``poll`` (never past ``limit`` seconds); earlier if the run changed."""
        ...

    def wait_for_end(self, poll: float, limit: float) -> None:
        """For a follower that only needs the run's end (``show_output=False``): like :meth:`wait_for_change`,
        but a source that is told of the run's writes sleeps through those that do not end it."""
        ...


class WorkspaceBackend(Protocol):
    """Pipelines, endpoints, runs and schedules of one workspace. Errors are the local types on both sides
    (``NotFoundError``, ``ConflictError``, ``ValidationError``, ``ParameterError``)."""

    #: The Functions app URL this workspace's submit URLs are made from (no trailing ``/api``).
    api_base: str

    def pipeline_submit_url(self, pipeline_id: str) -> str:
        """The URL to POST a submit body to (``PublishedPipeline.endpoint``)."""
        ...

    def endpoint_submit_url(self, endpoint_id: str) -> str:
        """The URL to POST a submit body to (``PipelineEndpoint.endpoint``); ``?version=`` picks a version."""
        ...

    # -- published pipelines -------------------------------------------------------------
    def publish(self, spec: PipelineSpec, name: str, description: str | None, version: str | None,
                continue_on_step_failure: bool | None) -> PipelineRecord:
        """Upload snapshots and spec, then store a new Active published pipeline."""
        ...

    def get_pipeline(self, pipeline_id: str) -> PipelineRecord: ...

    def list_pipelines(self, active_only: bool) -> list[PipelineRecord]:
        """Newest first."""
        ...

    def set_pipeline_status(self, pipeline_id: str, enable: bool) -> str:
        """The status now held; disabling is refused while an active schedule submits the pipeline."""
        ...

    # -- pipeline endpoints --------------------------------------------------------------
    def create_endpoint(self, name: Any, description: Any, pipeline_id: str) -> EndpointView: ...

    def get_endpoint(self, id: str | None = None, name: str | None = None) -> EndpointView:
        """By ``id`` when given, else by ``name`` (never one taken for the other)."""
        ...

    def list_endpoints(self, active_only: bool) -> list[EndpointView]: ...

    def add_endpoint_version(self, endpoint_id: str, pipeline_id: str, make_default: bool) -> EndpointView: ...

    def set_endpoint_default_version(self, endpoint_id: str, version: str) -> EndpointView: ...

    def set_endpoint_status(self, endpoint_id: str, enable: bool) -> EndpointView: ...

    def rename_endpoint(self, endpoint_id: str, name: str) -> EndpointView: ...

    def endpoint_pipeline(self, endpoint_id: str, version: str | None) -> PipelineRecord:
        """The published pipeline behind ``version`` (None: the default), read fresh."""
        ...

    # -- runs ----------------------------------------------------------------------------
    def submit_spec(self, experiment_name: str, spec: PipelineSpec, tags: dict[str, str] | None,
                    keywords: SubmitKeywords) -> str:
        """Run an unpublished pipeline (AML v1 sends the graph with the submit); the new run's id."""
        ...

    def submit_published(self, experiment_name: str, pipeline_id: str, tags: dict[str, str] | None,
                         keywords: SubmitKeywords) -> str: ...

    def submit_endpoint(self, experiment_name: str, endpoint_id: str, version: str | None,
                        tags: dict[str, str] | None, keywords: SubmitKeywords) -> str:
        """Run the endpoint's ``version`` (None: its default when the submit arrives)."""
        ...

    def run_source(self, run_id: str) -> RunSource: ...

    def list_runs(self, experiment_name: str) -> list[str]:
        """Run ids of the experiment, newest first."""
        ...

    # -- schedules -----------------------------------------------------------------------
    def create_schedule(self, definition: ScheduleDefinition) -> ScheduleEntity: ...

    def get_schedule(self, schedule_id: str) -> ScheduleEntity: ...

    def list_schedules(self, active_only: bool, pipeline_id: str | None,
                       pipeline_endpoint_id: str | None) -> list[ScheduleEntity]: ...

    def update_schedule(self, schedule_id: str, changes: dict[str, Any], status: str | None) -> ScheduleEntity: ...

    def set_schedule_status(self, schedule_id: str, enable: bool) -> ScheduleEntity: ...

    def schedule_runs(self, schedule_id: str, top: int) -> list[tuple[str, str]]:
        """``(run id, experiment name)`` of the runs the schedule started, newest first."""
        ...

    def schedule_next(self, schedule_id: str, count: int) -> list[dict[str, str]]: ...

    def schedule_history(self, schedule_id: str, top: int) -> list[ScheduleEntity]: ...
