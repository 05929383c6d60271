"""``PipelineSpec``: the versioned JSON form of a pipeline, and how a ``Pipeline`` becomes one.

Why a JSON spec: the same graph must travel from the SDK to a local run, to a
published endpoint in Table/Blob storage and into an orchestrator activity. A
plain, versioned document does that; its content hash is the graph id, so the
same pipeline built twice has the same id.

The records (the document, a step, a data object, a parameter, an argument
token) are typed in :mod:`pipeline_core.spec_types`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pipeline_core.data.abstract_dataset import AbstractDataset
from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath, DataPathComputeBinding
from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig, OutputInput
from pipeline_core.execution.snapshot import take_snapshot
from pipeline_core.pipeline.core.graph import PipelineData, PipelineParameter
from pipeline_core.pipeline.steps.base import PipelineStep
from pipeline_core.safe_paths import script_name_problem, snapshot_member
from pipeline_core.spec_types import DataEntry, Edge, ParameterEntry, SpecDoc, StepEntry, Token, as_spec_doc

SCHEMA = "amlite.pipelinespec/1"


@dataclass
class PipelineSpec:
    """A built pipeline. ``doc`` is the JSON document; helpers answer graph questions about it."""

    doc: SpecDoc
    problems: list[str] = field(default_factory=list)

    @property
    def graph_id(self) -> str:
        hashed = {k: v for k, v in self.doc.items() if k not in ("local", "description", "graph_id")}
        canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    @property
    def steps(self) -> list[StepEntry]:
        return list(self.doc["steps"])

    @property
    def step_names(self) -> list[str]:
        return [s["name"] for s in self.doc["steps"]]

    def step(self, name: str) -> StepEntry:
        for s in self.doc["steps"]:
            if s["name"] == name:
                return s.copy()
        raise KeyError(name)

    @property
    def parameters(self) -> dict[str, ParameterEntry]:
        return dict(self.doc.get("parameters", {}))

    @property
    def data(self) -> dict[str, DataEntry]:
        return dict(self.doc.get("data", {}))

    def dependencies(self) -> dict[str, list[str]]:
        """Each step's upstream steps, from data edges and ``run_after``."""
        deps: dict[str, list[str]] = {name: [] for name in self.step_names}
        for edge in self.doc.get("edges", []):
            if edge["from"] not in deps[edge["to"]]:
                deps[edge["to"]].append(edge["from"])
        return deps

    def to_json(self) -> str:
        return json.dumps({**self.doc, "graph_id": self.graph_id}, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> PipelineSpec:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ValueError(f"unsupported pipeline spec schema {doc.get('schema')!r}; this amlite reads {SCHEMA!r}")
        doc.pop("graph_id", None)
        return cls(as_spec_doc(doc))


def _literal(value: Any) -> Token:
    return {"lit": str(value)}


class _Builder:
    """Walks steps once, naming every data object and parameter, and collecting problems as it goes."""

    def __init__(self, steps: list[PipelineStep], default_source_directory: str | None):
        self.steps = steps
        self.default_source_directory = default_source_directory
        self.data: dict[str, DataEntry] = {}
        self.data_objects: dict[str, Any] = {}
        self.parameters: dict[str, ParameterEntry] = {}
        self.parameter_objects: dict[str, PipelineParameter] = {}
        self.problems: list[str] = []
        self.local_names: dict[str, dict[str, str]] = {}  # step -> data id -> the input name the step gave it
        self.producers: dict[int, list[str]] = {}
        for step in steps:
            for out in step._outputs:
                self.producers.setdefault(id(_unwrap(out)), []).append(step.name)

    # -- data and parameters -------------------------------------------------
    def _register_data(self, obj: Any, step: str, where: str) -> str:
        obj = _unwrap(obj)
        if isinstance(obj, (PipelineData, OutputFileDatasetConfig)):
            key = obj.name
            kind = "pipeline_data" if isinstance(obj, PipelineData) else "output"
            entry: DataEntry = {"kind": kind, "datastore": None, "path": None}
            if isinstance(obj, PipelineData):
                entry["datastore"] = obj.datastore_name
                if obj.pipeline_output_name:  # only when set, so other pipelines keep their graph ids
                    entry["pipeline_output_name"] = obj.pipeline_output_name
            elif obj.destination is not None:
                entry["datastore"], entry["path"] = obj.destination
            if isinstance(obj, OutputFileDatasetConfig) and obj.registration:
                entry["register_on_complete"] = dict(obj.registration)
        elif isinstance(obj, DataReference):
            key = obj.data_reference_name
            entry = {"kind": "data_reference", "datastore": obj.datastore_name, "path": obj.path_on_datastore}
        elif isinstance(obj, DataPath):
            key = obj.name or f"datapath_{hashlib.sha1(repr(obj).encode()).hexdigest()[:8]}"
            entry = {"kind": "data_reference", "datastore": obj.datastore_name, "path": obj.path_on_datastore}
        elif isinstance(obj, (AbstractDataset, DatasetConsumptionConfig)):
            named = obj if isinstance(obj, DatasetConsumptionConfig) else obj.as_named_input(obj._default_input_name())
            if named.parameter is not None:
                self._register_parameter(named.parameter, step)
            key, raw = named.spec_entry()
            entry = cast(DataEntry, raw)
        else:
            raise TypeError(obj)
        known = self.data_objects.get(key)
        if known is not None and known is not obj and self.data[key] != entry and entry["kind"] == "dataset":
            # AML scopes an input name to its step: two steps may each read a different dataset as
            # "raw_data". The spec keys data uniquely, so this one gets an id of its own and the step
            # keeps the name it gave it (``input_names``: its variable and Run.input_datasets key).
            local = key
            key = f"{key}_{hashlib.sha1(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()[:8]}"
            self.local_names.setdefault(step, {})[key] = local
            if key in self.data_objects:
                return key
        elif known is not None and known is not obj and self.data[key] != entry:
            self.problems.append(
                f"step {step!r}: {where} names data {key!r}, but another data object already uses that name; "
                "give each PipelineData / OutputFileDatasetConfig / DataReference a unique name"
            )
        self.data_objects.setdefault(key, obj)
        self.data.setdefault(key, entry)
        return key

    def _register_parameter(self, param: PipelineParameter, step: str) -> str:
        known = self.parameter_objects.get(param.name)
        default = param.default_value.to_dict() if isinstance(param.default_value, DataPath) else param.default_value
        if param.type == "dataset":
            from pipeline_core.data.dataset_consumption_config import dataset_reference

            default = dataset_reference(param.default_value)
        if known is not None and known is not param and (
            known.type != param.type or self.parameters[param.name]["default"] != default
        ):
            self.problems.append(
                f"step {step!r}: PipelineParameter {param.name!r} is declared twice with different defaults "
                f"({known.default_value!r} and {param.default_value!r}); create it once and share the object"
            )
        self.parameter_objects.setdefault(param.name, param)
        self.parameters.setdefault(param.name, {"type": param.type, "default": default})
        return param.name

    def token(self, value: Any, step: str, where: str, inputs: list[str]) -> Token | None:
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], PipelineParameter) \
                and isinstance(value[1], DataPathComputeBinding):
            name = self._register_parameter(value[0], step)
            if value[0].type != "datapath":
                self.problems.append(
                    f"step {step!r}: {where} binds PipelineParameter {name!r} as a DataPath, "
                    "but its default is not a DataPath"
                )
            binding = f"datapath:{name}"
            self.data.setdefault(binding, {"kind": "datapath", "parameter": name, "mode": value[1].mode})
            if binding not in inputs:
                inputs.append(binding)
            return {"datapath": name}
        if isinstance(value, PipelineParameter):
            name = self._register_parameter(value, step)
            if value.type == "datapath":
                binding = f"datapath:{name}"
                self.data.setdefault(binding, {"kind": "datapath", "parameter": name, "mode": "mount"})
                if binding not in inputs:
                    inputs.append(binding)
                return {"datapath": name}
            return {"param": name}
        if isinstance(value, (PipelineData, OutputFileDatasetConfig, OutputInput, DataReference, DataPath,
                              AbstractDataset, DatasetConsumptionConfig)):
            return {"data": self._register_data(value, step, where)}
        if isinstance(value, (str, int, float, bool)):
            text = str(value)
            if "$AML_PARAMETER_" in text:
                for ref in _parameter_refs(text):
                    if ref not in {p.name for p in self._all_parameters()}:
                        self.problems.append(
                            f"step {step!r}: {where} refers to $AML_PARAMETER_{ref}, but no PipelineParameter "
                            f"named {ref!r} is used in the pipeline; create PipelineParameter(name={ref!r}, ...)"
                        )
            return _literal(value)
        if value is None:
            return None
        self.problems.append(
            f"step {step!r}: {where} has a value of type {type(value).__name__} ({value!r}); arguments may be "
            "str, int, float, bool, PipelineParameter, PipelineData, OutputFileDatasetConfig, DataReference or DataPath"
        )
        return None

    def _all_parameters(self) -> list[PipelineParameter]:
        found: list[PipelineParameter] = []
        for step in self.steps:
            values = list(step._arguments) + list(getattr(step, "params", {}).values()) + list(step._inputs)
            for v in values:
                if isinstance(v, PipelineParameter):
                    found.append(v)
                elif isinstance(v, tuple) and v and isinstance(v[0], PipelineParameter):
                    found.append(v[0])
        return found

    # -- steps ---------------------------------------------------------------
    def step_doc(self, step: PipelineStep) -> tuple[StepEntry, str | None]:
        inputs: list[str] = []
        outputs: list[str] = []
        for out in step._outputs:
            key = self._register_data(out, step.name, "outputs")
            if key not in outputs:
                outputs.append(key)
        tabular: dict[str, dict[str, Any]] = {}
        for inp in step._inputs:
            tok = self.token(inp, step.name, "inputs", inputs)
            if tok and "data" in tok and tok["data"] not in inputs:
                inputs.append(tok["data"])
            if tok and "data" in tok and isinstance(inp, OutputInput) and inp.tabular is not None:
                tabular[tok["data"]] = dict(inp.tabular)
        arguments: list[Token] = []
        for index, arg in enumerate(step._arguments):
            tok = self.token(arg, step.name, f"arguments[{index}]", inputs)
            if tok is None:
                continue
            arguments.append(tok)
            data_id = tok.get("data")
            if data_id and data_id not in inputs and data_id not in outputs:
                obj = _unwrap(arg)
                produced_elsewhere = any(p != step.name for p in self.producers.get(id(obj), []))
                if isinstance(arg, OutputInput) or produced_elsewhere or self.data[data_id]["kind"] in ("data_reference", "dataset"):
                    inputs.append(data_id)
                else:
                    outputs.append(data_id)
                    self.producers.setdefault(id(obj), []).append(step.name)
        params: dict[str, Token] = {}
        for key, value in getattr(step, "params", {}).items():
            tok = self.token(value, step.name, f"params[{key!r}]", inputs)
            if tok is not None:
                params[key] = tok
        doc: StepEntry = {
            "name": step.name,
            "type": step.step_type,
            "arguments": arguments,
            "inputs": inputs,
            "outputs": outputs,
            "params": params,
            "allow_reuse": bool(step.allow_reuse),
            "run_after": [s.name for s in step._run_after],
        }
        if step._retry:
            doc["retry"] = dict(step._retry)
        if tabular:
            doc["tabular_inputs"] = tabular
        if self.local_names.get(step.name):
            doc["input_names"] = dict(self.local_names[step.name])
        # The kind's own fields (ParallelRunStep's config, ...): the SDK step class supplies them.
        doc.update(cast(StepEntry, step.spec_fields(lambda value, where: self.token(value, step.name, where, inputs))))
        source_dir: str | None = None
        # A step that runs in a snapshot of source_directory: a script step, or one (CommandStep) that says so.
        if hasattr(step, "script_name") or getattr(step, "snapshot_source", False):
            script_name = getattr(step, "script_name", None)
            source_dir = str(Path(getattr(step, "source_directory", None) or self.default_source_directory or ".").resolve())
            if script_name is not None:
                doc["script_name"] = script_name
            doc["recorded"] = step.recorded() if hasattr(step, "recorded") else {}
            if not Path(source_dir).is_dir():
                self.problems.append(
                    f"step {step.name!r}: source_directory {source_dir!r} does not exist; "
                    "pass the folder that holds the script"
                )
            else:
                snapshot = take_snapshot(source_dir)
                problem = script_problem(script_name, snapshot.files) if script_name is not None else None
                if problem is None:
                    doc["snapshot"] = snapshot.hash
                elif not script_name_problem(script_name):  # -c, ../x, /x: validate_spec's step checks say so
                    self.problems.append(f"step {step.name!r}: script_name {script_name!r} {problem} "
                                         f"(source_directory is {source_dir!r})")
        return doc, source_dir


def script_problem(script_name: Any, files: Collection[str]) -> str | None:
    """Why ``script_name`` does not name a file of the snapshot ``files``; the SDK, publish, submit and run all ask this."""
    problem = script_name_problem(script_name)
    if problem:
        return problem
    if snapshot_member(script_name) not in files:
        return ("was not found in source_directory's snapshot; check the name (a path relative to source_directory) "
                "and that .amlignore/.gitignore do not exclude it")
    return None


def _unwrap(obj: Any) -> Any:
    return obj.output if isinstance(obj, OutputInput) else obj


def _parameter_refs(text: str) -> list[str]:
    import re

    return re.findall(r"\$AML_PARAMETER_([A-Za-z_][A-Za-z0-9_]*)", text)


def build_spec(steps: list[PipelineStep], description: str | None = None,
               default_source_directory: str | None = None,
               continue_on_step_failure: bool = False) -> PipelineSpec:
    """Turn steps into a spec; structural problems are collected in ``spec.problems`` for ``validate()``."""
    builder = _Builder(steps, default_source_directory)
    step_docs: list[StepEntry] = []
    local: dict[str, str] = {}
    for step in steps:
        doc, source_dir = builder.step_doc(step)
        step_docs.append(doc)
        if source_dir:
            local[step.name] = source_dir
    producers: dict[str, list[str]] = {}
    for doc in step_docs:
        for out in doc["outputs"]:
            producers.setdefault(out, []).append(doc["name"])
    for data_id, entry in builder.data.items():
        if entry["kind"] in ("pipeline_data", "output"):
            entry["producer"] = next(iter(producers.get(data_id, [])), None)
    edges: list[Edge] = []
    for doc in step_docs:
        for inp in doc["inputs"]:
            for producer in producers.get(inp, []):
                if producer != doc["name"]:
                    edges.append({"from": producer, "to": doc["name"], "via": inp})
        for before in doc["run_after"]:
            edges.append({"from": before, "to": doc["name"], "via": None})
    spec_doc: SpecDoc = {
        "schema": SCHEMA,
        "description": description or "",
        "continue_on_step_failure": bool(continue_on_step_failure),
        "parameters": builder.parameters,
        "data": builder.data,
        "steps": step_docs,
        "edges": edges,
        "local": {"source_directories": local},
    }
    spec = PipelineSpec(spec_doc, problems=list(builder.problems))
    for data_id, names in producers.items():
        if len(names) > 1:
            spec.problems.append(
                f"output {data_id!r} is produced by more than one step ({', '.join(repr(n) for n in names)}); "
                "each PipelineData / OutputFileDatasetConfig must have exactly one producing step"
            )
    return spec
