"""AML v1 ``azureml.core.databricks``: the libraries a ``DatabricksStep`` installs on its cluster.

Each becomes one entry of the Jobs API's ``libraries`` list (``as_library()``), so the
cluster installs it before the task runs, as AML's step did.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.databricks.task import jar_library, maven_library, pypi_library


class _Library:
    def as_library(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.as_library() == self.as_library()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self.as_library()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_library()!r})"


class PyPiLibrary(_Library):
    """A PyPI package (``"lightgbm==4.6.0"``), optionally from another index (``repo``)."""

    def __init__(self, package: str, repo: str | None = None):
        self.package, self.repo = package, repo

    def as_library(self) -> dict[str, Any]:
        return pypi_library(self.package, self.repo)


class MavenLibrary(_Library):
    """Maven coordinates (``"com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22"``)."""

    def __init__(self, coordinates: str, repo: str | None = None, exclusions: list[str] | None = None):
        self.coordinates, self.repo, self.exclusions = coordinates, repo, list(exclusions or [])

    def as_library(self) -> dict[str, Any]:
        return maven_library(self.coordinates, self.repo, self.exclusions)


class JarLibrary(_Library):
    """A JAR on DBFS, a volume or the workspace (``"dbfs:/libs/app.jar"``)."""

    def __init__(self, library: str):
        self.library = library

    def as_library(self) -> dict[str, Any]:
        return jar_library(self.library)


class EggLibrary(_Library):
    """A Python egg on DBFS (deprecated by Databricks in favour of wheels; sent as given)."""

    def __init__(self, library: str):
        self.library = library

    def as_library(self) -> dict[str, Any]:
        return {"egg": self.library}


class RCranLibrary(_Library):
    """A CRAN package (``"forecast"``), optionally from another repository."""

    def __init__(self, package: str, repo: str | None = None):
        self.package, self.repo = package, repo

    def as_library(self) -> dict[str, Any]:
        return {"cran": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


__all__ = ["EggLibrary", "JarLibrary", "MavenLibrary", "PyPiLibrary", "RCranLibrary"]
