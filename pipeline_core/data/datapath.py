"""``DataPath``: a path on a datastore, usable as a ``PipelineParameter`` default (AML v1)."""

from __future__ import annotations

from typing import Any


class DataPathComputeBinding:
    """How a ``DataPath`` reaches the step. Only the local path matters here; mount and download both download."""

    def __init__(self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False):
        if mode not in ("mount", "download"):
            raise ValueError(f"DataPathComputeBinding mode must be 'mount' or 'download', not {mode!r}")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def __repr__(self) -> str:
        return f"DataPathComputeBinding(mode={self.mode!r})"


class DataPath:
    """A datastore + path pair. ``datastore`` may be a ``Datastore`` or its name."""

    def __init__(self, datastore: Any = None, path_on_datastore: str | None = None, name: str | None = None):
        if datastore is None:
            raise ValueError("DataPath needs a datastore, e.g. DataPath(datastore=ws.get_default_datastore(), ...)")
        self.datastore_name: str = datastore if isinstance(datastore, str) else datastore.name
        self.path_on_datastore = (path_on_datastore or "").lstrip("/")
        self.name = name

    def create_data_reference(self, data_reference_name: str | None = None, datapath_compute_binding: Any = None) -> Any:
        from pipeline_core.data.data_reference import DataReference

        binding = datapath_compute_binding or DataPathComputeBinding()
        return DataReference(
            datastore=self.datastore_name,
            data_reference_name=data_reference_name or self.name or "datapath",
            path_on_datastore=self.path_on_datastore,
            mode=binding.mode,
        )

    def to_dict(self) -> dict[str, str]:
        return {"datastore": self.datastore_name, "path": self.path_on_datastore}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> DataPath:
        datastore = value.get("datastore") or value.get("DataStoreName")
        path = value.get("path") if "path" in value else value.get("RelativePath")
        if not datastore:
            raise ValueError("a DataPath needs a datastore name ('datastore' or 'DataStoreName')")
        return cls(datastore=datastore, path_on_datastore=path or "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataPath) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.datastore_name, self.path_on_datastore))

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore_name!r}, path_on_datastore={self.path_on_datastore!r})"
