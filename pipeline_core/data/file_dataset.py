"""``FileDataset``: files on datastores, handed to a step as a folder (AML v1)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_core.data.abstract_dataset import AbstractDataset
from pipeline_core.data.dataset_paths import download_files, local_path
from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig


class FileDataset(AbstractDataset):
    dataset_type = "file"

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """A step input (downloaded: a Functions worker has no FUSE), named as registered or by definition."""
        return self.as_named_input(self._default_input_name()).as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input(self._default_input_name()).as_download(path_on_compute)

    def to_path(self) -> list[str]:
        """The files' paths relative to the dataset's base folder, as AML lists them (leading ``/``)."""
        return ["/" + f.relative for f in self._files()]

    def download(self, target_path: str | None = None, overwrite: bool = False,
                 ignore_not_found: bool = False) -> list[str]:
        """Download every file below ``target_path`` (a new temp folder if None); returns the local paths."""
        from pipeline_core.core.datastore import Datastore

        ws = self._resolve_workspace()
        target = Path(target_path) if target_path else Path(tempfile.mkdtemp(prefix="amlite-dataset-"))
        files = self._files(ws)
        existing = [local for local in (local_path(target, f) for f in files) if local.exists()]
        if existing and not overwrite:
            raise AmliteError(f"download: {str(existing[0])!r} already exists; pass overwrite=True "
                              "or choose another target_path")
        paths = download_files(lambda name: Datastore.get(ws, name)._container, files, target, overwrite=True)
        return [str(p) for p in paths]
