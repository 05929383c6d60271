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


class DatasetConsumptionConfig:
    def __init__(self, name: str, dataset: AbstractDataset, mode: str = "direct",
                 path_on_compute: str | None = None):
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

    def _require_file(self, what: str) -> None:
        if self.dataset.dataset_type != "file":
            raise ValueError(f"dataset input {self.name!r}: {what}() is for file datasets; pass a tabular "
                             "dataset as dataset.as_named_input(name) (its files are still downloaded)")

    def spec_entry(self) -> tuple[str, dict[str, Any]]:
        """The input's id and its entry in the spec's ``data`` table (``kind: dataset``)."""
        ds = self.dataset
        return self.name, {"kind": "dataset", "dataset_type": ds.dataset_type, "definition": ds.definition,
                           "name": ds.name, "version": ds.version, "id": ds.id}

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r}, dataset={self.dataset!r})"
