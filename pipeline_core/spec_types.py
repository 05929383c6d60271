"""The pipeline spec's records as types: what the builder writes and the checker, engine and REST read.

Why ``TypedDict`` rather than classes: the spec *is* JSON (it is hashed into
the graph id, stored in Blob storage, posted over REST and passed to Durable
activities), so its records stay plain dicts at run time, byte for byte what
they were; the types only let mypy check every key the code reads or writes.

A document that arrives from outside (a REST body, a stored blob) is untrusted
until ``service/spec_check.py`` has looked at it; :func:`as_spec_doc` marks the
point where the code starts treating it as a :class:`SpecDoc`.

Argument tokens (the only shapes a step's ``arguments`` and ``params`` hold):
``{"lit": "text"}``, ``{"param": name}``, ``{"data": id}`` (a data binding),
``{"datapath": param_name}`` (a DataPath parameter bound as an input).
"""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict, cast


class Token(TypedDict, total=False):
    """One argument or ``params`` value: exactly one of the keys."""

    lit: str
    param: str
    data: str
    datapath: str


class ParameterEntry(TypedDict):
    """A ``PipelineParameter``: its type (``str``, ``int``, ``float``, ``bool``, ``datapath``) and default."""

    type: str
    default: Any


DataKind = Literal["pipeline_data", "output", "data_reference", "dataset", "datapath"]


class DataEntry(TypedDict, total=False):
    """A data object a step reads or writes, keyed by its name in ``SpecDoc.data``.

    ``pipeline_data``/``output``: produced by ``producer``, stored under ``datastore``/``path``
    (a destination) or the run's folder. ``data_reference``: an existing ``datastore``/``path``.
    ``dataset``: a registered or defined dataset (``definition``). ``datapath``: the DataPath
    parameter ``parameter``, bound with ``mode``.
    """

    kind: Required[str]
    register_on_complete: dict[str, Any]  # an output registered as a dataset when its step finishes
    datastore: str | None
    path: str | None
    producer: str | None
    pipeline_output_name: str
    parameter: str
    mode: str
    dataset_type: str
    definition: Any
    name: str | None
    version: Any
    id: str | None


class ParallelInput(TypedDict, total=False):
    """One input a ParallelRunStep splits into mini-batches."""

    data: Required[str]  # a data id (the checker refuses an input that is not data)
    type: Required[str]
    tabular: Any


class ParallelRunConfigEntry(TypedDict):
    """A ParallelRunConfig: literal ``values``, and the names of parameters bound to the others."""

    values: dict[str, Any]
    parameters: dict[str, str]


class EnvironmentEntry(TypedDict, total=False):
    """What a step's ``Environment`` declares: pip/conda packages are installed (a cached venv), the rest recorded."""

    name: str
    pip: list[str]
    conda: list[str]
    user_managed: bool
    docker: dict[str, Any]


class StepEntry(TypedDict, total=False):
    """One step. The first block every step has; the rest by step kind."""

    name: Required[str]
    type: Required[str]
    arguments: Required[list[Token]]
    inputs: Required[list[str]]
    outputs: Required[list[str]]
    params: Required[dict[str, Token]]
    allow_reuse: Required[bool]
    run_after: Required[list[str]]
    retry: dict[str, Any]
    # steps that run a script from a snapshot
    script_name: str
    snapshot: str
    recorded: dict[str, Any]
    max_run_duration_seconds: int | None
    environment: EnvironmentEntry
    #: inputs a step reads as a TabularDataset (an output's read_*_files()/parse_*_files()): their format
    tabular_inputs: dict[str, dict[str, Any]]
    #: data id -> the input name the step gave it, where the spec had to key the data differently
    input_names: dict[str, str]
    # ParallelRunStep
    parallel_run_config: ParallelRunConfigEntry
    parallel_inputs: list[ParallelInput]
    side_inputs: list[str | None]  # data ids
    input_type: str
    # AutoMLStep: {"settings": the AutoMLConfig's arguments, "training_data"/"validation_data": {"data": id}}
    automl: dict[str, Any]
    #: output data id -> its TrainingOutput ({"type": "Model" | "Metrics", "iteration", "metric", "model_file"})
    training_outputs: dict[str, dict[str, Any]]


# "from" is a Python keyword: the functional form.
Edge = TypedDict("Edge", {"from": str, "to": str, "via": str | None})


class LocalEntry(TypedDict, total=False):
    """Where a local build found each step's source (not part of the graph id)."""

    source_directories: dict[str, str]


class SpecDoc(TypedDict, total=False):
    """A whole pipeline spec (``schema`` ``amlite.pipelinespec/1``)."""

    schema: Required[str]
    description: str
    continue_on_step_failure: bool
    parameters: dict[str, ParameterEntry]
    data: dict[str, DataEntry]
    steps: list[StepEntry]
    edges: list[Edge]
    local: LocalEntry
    graph_id: str


def as_spec_doc(value: dict[str, Any]) -> SpecDoc:
    """``value`` (parsed JSON) as a spec document: the one place an outside dict becomes a typed one."""
    return cast(SpecDoc, value)


__all__ = ["DataEntry", "DataKind", "Edge", "LocalEntry", "ParallelInput", "ParallelRunConfigEntry",
           "ParameterEntry", "SpecDoc", "StepEntry", "Token", "as_spec_doc"]
