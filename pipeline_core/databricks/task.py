"""What a DatabricksStep asks Databricks to run, as one task of a Jobs API ``runs/submit`` request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_core.errors import AmliteError

#: Keys a Jobs API library entry may have (one per entry).
LIBRARY_KINDS = ("jar", "egg", "whl", "pypi", "maven", "cran", "requirements")


def jar_library(library: str) -> dict[str, Any]:
    """A JAR on DBFS, a volume or the workspace (``dbfs:/libs/app.jar``)."""
    return {"jar": library}


def pypi_library(package: str, repo: str | None = None) -> dict[str, Any]:
    return {"pypi": {"package": package, **({"repo": repo} if repo else {})}}


def maven_library(coordinates: str, repo: str | None = None, exclusions: list[str] | None = None) -> dict[str, Any]:
    return {"maven": {"coordinates": coordinates, **({"repo": repo} if repo else {}),
                      **({"exclusions": list(exclusions)} if exclusions else {})}}


@dataclass(frozen=True)
class DatabricksTask:
    """One of a notebook (``notebook_path`` + ``notebook_params``), a Python file (``python_script_path`` +
    ``python_script_params``) or a JAR's main class (``main_class_name`` + ``jar_params``, the JAR among
    ``libraries``); on ``existing_cluster_id`` or a ``new_cluster`` (the Jobs API's cluster spec)."""

    notebook_path: str | None = None
    notebook_params: dict[str, str] = field(default_factory=dict)
    python_script_path: str | None = None
    python_script_params: list[str] = field(default_factory=list)
    main_class_name: str | None = None
    jar_params: list[str] = field(default_factory=list)
    libraries: list[dict[str, Any]] = field(default_factory=list)
    existing_cluster_id: str | None = None
    new_cluster: dict[str, Any] | None = None
    timeout_seconds: int | None = None
    task_key: str = "amlite_step"

    def __post_init__(self) -> None:
        kinds = [n for n in ("notebook_path", "python_script_path", "main_class_name") if getattr(self, n)]
        if len(kinds) != 1:
            raise AmliteError("a Databricks task runs exactly one of notebook_path, python_script_path and "
                              f"main_class_name (got {', '.join(kinds) or 'none'})")
        if bool(self.existing_cluster_id) == bool(self.new_cluster):
            raise AmliteError("a Databricks task needs exactly one of existing_cluster_id and new_cluster "
                              "(a cluster spec such as {'spark_version': ..., 'node_type_id': ..., 'num_workers': 1})")
        for library in self.libraries:
            if not isinstance(library, dict) or len(library) != 1 or next(iter(library)) not in LIBRARY_KINDS:
                raise AmliteError(f"library {library!r} is not a Jobs API library: use one of "
                                  f"{', '.join(LIBRARY_KINDS)} as its only key (jar_library, pypi_library, "
                                  "maven_library build them)")
        if self.main_class_name and not any("jar" in lib or "maven" in lib for lib in self.libraries):
            raise AmliteError(f"main_class_name {self.main_class_name!r} needs the JAR that holds it among "
                              "the libraries (jar_library('dbfs:/...jar') or a Maven coordinate)")
        if self.timeout_seconds is not None and self.timeout_seconds < 0:
            raise AmliteError(f"timeout_seconds must be 0 (none) or more, not {self.timeout_seconds}")

    def as_jobs_task(self) -> dict[str, Any]:
        """The task object of ``runs/submit`` (Jobs API 2.1+)."""
        task: dict[str, Any] = {"task_key": self.task_key}
        if self.notebook_path:
            task["notebook_task"] = {"notebook_path": self.notebook_path,
                                     "base_parameters": {k: str(v) for k, v in self.notebook_params.items()}}
        elif self.python_script_path:
            task["spark_python_task"] = {"python_file": self.python_script_path,
                                         "parameters": [str(p) for p in self.python_script_params]}
        else:
            task["spark_jar_task"] = {"main_class_name": self.main_class_name,
                                      "parameters": [str(p) for p in self.jar_params]}
        if self.existing_cluster_id:
            task["existing_cluster_id"] = self.existing_cluster_id
        else:
            task["new_cluster"] = dict(self.new_cluster or {})
        if self.libraries:
            task["libraries"] = [dict(lib) for lib in self.libraries]
        if self.timeout_seconds:
            task["timeout_seconds"] = int(self.timeout_seconds)
        return task
