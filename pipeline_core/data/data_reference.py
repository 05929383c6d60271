"""``DataReference``: an input that already sits on a datastore (AML v1)."""

from __future__ import annotations

from typing import Any


class DataReference:
    """A folder or blob on a datastore, downloaded to a local path before the step runs.

    ``mode='mount'`` and ``'download'`` both download (there is no FUSE on a
    Functions worker); ``'upload'`` is not an input mode and is refused.
    """

    def __init__(
        self,
        datastore: Any,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ):
        if datastore is None:
            raise ValueError("DataReference needs a datastore, e.g. DataReference(datastore=ws.get_default_datastore(), ...)")
        if mode not in ("mount", "download"):
            raise ValueError(f"DataReference mode must be 'mount' or 'download', not {mode!r}")
        self.datastore_name: str = datastore if isinstance(datastore, str) else datastore.name
        self.data_reference_name = data_reference_name or (path_on_datastore or "data").strip("/").replace("/", "_") or "data"
        self.path_on_datastore = (path_on_datastore or "").lstrip("/")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def as_mount(self) -> DataReference:
        self.mode = "mount"
        return self

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        self.mode = "download"
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        return self

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        joined = "/".join(p.strip("/") for p in (self.path_on_datastore, path or "") if p)
        return DataReference(self.datastore_name, data_reference_name, joined, self.mode)

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"

    def __repr__(self) -> str:
        return (
            f"DataReference(datastore={self.datastore_name!r}, name={self.data_reference_name!r}, "
            f"path_on_datastore={self.path_on_datastore!r}, mode={self.mode!r})"
        )
