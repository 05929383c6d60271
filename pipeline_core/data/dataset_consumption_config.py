"""``DatasetConsumptionConfig``: a dataset as a named step input (AML v1 ``as_named_input``).

The name is the input's id in the pipeline: the argument it stands for becomes
the local folder of the dataset's files, and ``AZUREML_DATAREFERENCE_<name>``
holds the same path. ``mount`` and ``download`` both download here (a
Functions worker has no FUSE); ``path_on_compute`` is recorded.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline_core.data.abstract_dataset import AbstractDataset

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dataset_reference(ds: AbstractDataset) -> dict[str, Any]:
    """A dataset as a value: what a spec's data entry, a dataset parameter's default and a submitted
    dataset parameter all hold (the definition travels, so a run reads exactly the version it names)."""
    return {"dataset_type": ds.dataset_type, "definition": ds.definition, "name": ds.name, "version": ds.version,
            "id": ds.id}


class DatasetConsumptionConfig:
    """``dataset`` is a dataset, or a ``PipelineParameter`` whose default is one (AML: swap it at submit time)."""

    def __init__(self, name: str, dataset: Any, mode: str = "direct",
                 path_on_compute: str | None = None):
        from pipeline_core.data.abstract_dataset import AbstractDataset

        default = getattr(dataset, "default_value", None)
        if not isinstance(dataset, AbstractDataset) and not isinstance(default, AbstractDataset):
            raise ValueError(f"dataset input {name!r}: pass a Dataset, or a PipelineParameter whose default_value "
                             f"is one, not {type(dataset).__name__}")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"dataset input name {name!r} is invalid: use letters, digits and underscores, "
                             "starting with a letter or underscore")
        if mode not in ("direct", "mount", "download"):
            raise ValueError(f"dataset input {name!r}: mode must be 'direct', 'mount' or 'download', not {mode!r}")
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        self._require_file("as_mount")
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        self._require_file("as_download")
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    @property
    def parameter(self) -> Any:
        """The PipelineParameter this input is bound to, or None for a fixed dataset."""
        return None if hasattr(self.dataset, "dataset_type") else self.dataset

    @property
    def dataset_type(self) -> str:
        return str(getattr(self.dataset, "dataset_type", None) or self.dataset.default_value.dataset_type)

    def _require_file(self, what: str) -> None:
        if self.dataset_type != "file":
            raise ValueError(f"dataset input {self.name!r}: {what}() is for file datasets; pass a tabular "
                             "dataset as dataset.as_named_input(name) (its files are still downloaded)")

    def spec_entry(self) -> tuple[str, dict[str, Any]]:
        """The input's id and its entry in the spec's ``data`` table (``kind: dataset``)."""
        if self.parameter is not None:  # resolved from the run's parameters when the step runs
            return self.name, {"kind": "dataset", "dataset_type": self.dataset_type, "parameter": self.parameter.name}
        return self.name, {"kind": "dataset", **dataset_reference(self.dataset)}

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r}, dataset={self.dataset!r})"
