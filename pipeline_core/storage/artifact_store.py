"""Files a run uploads (``run.upload_file``, ``log_image``): blobs in the ``azureml`` container.

The layout is AML's (``ExperimentRun/dcid.{run id}/{name}`` in the workspace's
``azureml`` container), so code and tools that read run artifacts by path find
them where AML put them. A step run's id is ``{pipeline run id}_{step}``.
Every name is checked as a relative path before it becomes a blob name or,
on download, a local path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from pipeline_core.errors import NotFoundError
from pipeline_core.runcontext.names import check_artifact_name, local_path
from pipeline_core.storage.account import StorageAccount

ARTIFACTS_CONTAINER = "azureml"
RUN_PREFIX = "ExperimentRun/dcid."


def artifact_prefix(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}/"


class ArtifactStore:
    def __init__(self, account: StorageAccount):
        self.account = account

    @property
    def container(self) -> ContainerClient:
        return self.account.container(ARTIFACTS_CONTAINER)

    def blob_name(self, run_id: str, name: str) -> str:
        return artifact_prefix(run_id) + check_artifact_name(name)

    def upload(self, run_id: str, name: str, data: Any, length: int | None = None) -> str:
        """Store ``data`` (bytes, a readable, chunks) as artifact ``name`` (overwriting, as AML's upload does)."""
        blob = self.blob_name(run_id, name)
        self.container.upload_blob(blob, data, length=length, overwrite=True)
        return blob[len(artifact_prefix(run_id)):]

    def names(self, run_id: str, prefix: str = "") -> list[str]:
        start = artifact_prefix(run_id)
        return sorted(b.name[len(start):] for b in self.container.list_blobs(name_starts_with=start + prefix))

    def blobs_under(self, run_id: str, path: str) -> list[str]:
        """The artifact names ``path`` denotes: the one file of that name, or every file below that folder."""
        path = check_artifact_name(path.rstrip("/"), "model_path")
        return [n for n in self.names(run_id, path) if n == path or n.startswith(path + "/")]

    def open(self, run_id: str, name: str) -> Iterator[bytes]:
        try:
            return self.container.download_blob(self.blob_name(run_id, name)).chunks()
        except ResourceNotFoundError:
            raise NotFoundError(f"run {run_id} has no file {name!r}; its files: "
                                f"{', '.join(self.names(run_id)[:20]) or 'none'}") from None

    def download(self, run_id: str, name: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            for chunk in self.open(run_id, name):
                handle.write(chunk)
        return target

    def download_many(self, run_id: str, names: list[str], folder: Path) -> list[Path]:
        """Each name below ``folder`` (checked: a name never leaves it)."""
        return [self.download(run_id, name, local_path(folder, name)) for name in names]
