"""``DatabricksStep`` with AML v1's arguments: a notebook, a Python file or a JAR's main class run on Azure Databricks.

The step is submitted as a one-time run (Jobs API ``runs/submit``, through the official
``databricks-sdk``) and polled by the orchestrator between durable timers until it ends
(``engine/poll_step.py``); a cancel of the pipeline run cancels the Databricks run. The
driver's output lands in the step's log.

Data: as in AML, each input and output is handed to the code by name -- a notebook gets
it as a widget (``dbutils.widgets.get("input1")``), a Python file or a JAR as the
parameters ``-input1 <url>`` after its own -- whose value is the storage URL of the data
(``wasbs://container@account.blob.core.windows.net/path``). The cluster must be able to
read and write those locations (a Unity Catalog external location, or credentials in
``spark_conf``); amlite passes no storage key.
"""

from __future__ import annotations

from typing import Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken

#: AML's cluster arguments -> the Jobs API ``new_cluster`` keys.
_CLUSTER_KEYS = {"spark_version": "spark_version", "node_type": "node_type_id", "instance_pool_id": "instance_pool_id",
                 "spark_env_variables": "spark_env_vars", "spark_conf": "spark_conf"}


class DatabricksStep(PipelineStep):
    """Runs exactly one of ``notebook_path``, ``python_script_path``, ``python_script_name`` or ``main_class_name``.

    ``python_script_name`` (with ``source_directory``): the folder is snapshotted like a
    PythonScriptStep's and copied to ``dbfs:/amlite/snapshots/<snapshot hash>/`` when the step
    starts (once per content); the script gets ``--AZUREML_SCRIPT_DIRECTORY_NAME <that folder>``
    after its parameters, as in AML.

    Cluster: ``existing_cluster_id``, or a new cluster per run from ``spark_version``, ``node_type``
    (or ``instance_pool_id``), ``num_workers`` or ``min_workers``/``max_workers`` (autoscale),
    ``spark_env_variables``, ``spark_conf``, ``init_scripts``, ``cluster_log_dbfs_path``.
    Libraries: ``maven_libraries``, ``pypi_libraries``, ``egg_libraries``, ``jar_libraries``,
    ``rcran_libraries`` (``pipeline_core.core.databricks``). ``notebook_params``,
    ``python_script_params`` and ``jar_params`` may hold PipelineParameters. ``timeout_seconds``
    is the run's limit (Databricks ends it; amlite cancels it too if Databricks has not).
    ``compute_target``: the ``DatabricksCompute`` (or its name) whose workspace runs the step.
    """

    step_type = "DatabricksStep"

    def __init__(self, name: str, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 existing_cluster_id: str | None = None, spark_version: str | None = None,
                 node_type: str | None = None, instance_pool_id: str | None = None, num_workers: int | None = None,
                 min_workers: int | None = None, max_workers: int | None = None,
                 spark_env_variables: dict[str, str] | None = None, spark_conf: dict[str, str] | None = None,
                 init_scripts: list[str] | None = None, cluster_log_dbfs_path: str | None = None,
                 notebook_path: str | None = None, notebook_params: dict[str, Any] | None = None,
                 python_script_path: str | None = None, python_script_params: list[Any] | None = None,
                 main_class_name: str | None = None, jar_params: list[Any] | None = None,
                 python_script_name: str | None = None, source_directory: str | None = None,
                 hash_paths: list[str] | None = None, run_name: str | None = None, timeout_seconds: int | None = None,
                 runconfig: Any = None, maven_libraries: list[Any] | None = None,
                 pypi_libraries: list[Any] | None = None, egg_libraries: list[Any] | None = None,
                 jar_libraries: list[Any] | None = None, rcran_libraries: list[Any] | None = None,
                 compute_target: Any = None, allow_reuse: bool = True, version: str | None = None,
                 permit_cluster_restart: bool | None = None):
        if not name or not isinstance(name, str):
            raise ValueError("DatabricksStep needs a name")
        super().__init__(name, inputs, outputs, None, allow_reuse)
        code = [n for n, v in (("notebook_path", notebook_path), ("python_script_path", python_script_path),
                               ("python_script_name", python_script_name), ("main_class_name", main_class_name)) if v]
        if len(code) != 1:
            raise ValueError(f"DatabricksStep {name!r}: give exactly one of notebook_path, python_script_path, "
                             f"python_script_name and main_class_name (got {', '.join(code) or 'none'})")
        if python_script_name and not source_directory:
            raise ValueError(f"DatabricksStep {name!r}: python_script_name needs source_directory, the folder that "
                             "holds it (copied to DBFS for the run)")
        if python_script_name:
            self.script_name = python_script_name  # the builder snapshots source_directory and checks the script
        if notebook_params and not notebook_path:
            raise ValueError(f"DatabricksStep {name!r}: notebook_params go with notebook_path")
        if python_script_params and not (python_script_path or python_script_name):
            raise ValueError(f"DatabricksStep {name!r}: python_script_params go with python_script_path or "
                             "python_script_name")
        if jar_params and not main_class_name:
            raise ValueError(f"DatabricksStep {name!r}: jar_params go with main_class_name")
        if timeout_seconds is not None and (isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int)
                                            or timeout_seconds < 0):
            raise ValueError(f"DatabricksStep {name!r}: timeout_seconds must be a whole number of seconds "
                             f"(0: none), got {timeout_seconds!r}")
        self.notebook_path, self.python_script_path, self.main_class_name = notebook_path, python_script_path, main_class_name
        self.python_script_name = python_script_name
        self.notebook_params = dict(notebook_params or {})
        self.python_script_params = list(python_script_params or [])
        self.jar_params = list(jar_params or [])
        self.existing_cluster_id = existing_cluster_id
        self.new_cluster = self._new_cluster(
            spark_version=spark_version, node_type=node_type, instance_pool_id=instance_pool_id,
            num_workers=num_workers, min_workers=min_workers, max_workers=max_workers,
            spark_env_variables=spark_env_variables, spark_conf=spark_conf, init_scripts=init_scripts,
            cluster_log_dbfs_path=cluster_log_dbfs_path)
        if existing_cluster_id and self.new_cluster:
            raise ValueError(f"DatabricksStep {name!r}: give existing_cluster_id or new-cluster settings "
                             f"({', '.join(sorted(self.new_cluster))}), not both")
        if not existing_cluster_id and not self.new_cluster:
            raise ValueError(f"DatabricksStep {name!r}: give existing_cluster_id, or spark_version with node_type "
                             "(or instance_pool_id) and num_workers (or min_workers/max_workers) for a new cluster")
        libraries: list[dict[str, Any]] = []
        for arg, given in (("maven_libraries", maven_libraries), ("pypi_libraries", pypi_libraries),
                           ("egg_libraries", egg_libraries), ("jar_libraries", jar_libraries),
                           ("rcran_libraries", rcran_libraries)):
            for library in given or []:
                if not hasattr(library, "as_library"):
                    raise ValueError(f"DatabricksStep {name!r}: {arg} holds {library!r}; use the classes of "
                                     "pipeline_core.core.databricks (MavenLibrary, PyPiLibrary, EggLibrary, "
                                     "JarLibrary, RCranLibrary)")
                libraries.append(library.as_library())
        if main_class_name and not any("jar" in lib or "maven" in lib for lib in libraries):
            raise ValueError(f"DatabricksStep {name!r}: main_class_name {main_class_name!r} needs the JAR that holds "
                             "it: jar_libraries=[JarLibrary('dbfs:/...jar')] or maven_libraries")
        self.libraries = libraries
        self.run_name = run_name
        self.timeout_seconds = timeout_seconds
        self.compute_target = compute_target
        self.runconfig, self.version, self.hash_paths = runconfig, version, list(hash_paths or [])
        self.source_directory = source_directory
        self.permit_cluster_restart = permit_cluster_restart
        for ignored, value in (("runconfig", runconfig), ("hash_paths", hash_paths),
                               ("permit_cluster_restart", permit_cluster_restart)):
            if value is not None:
                warn_ignored(f"DatabricksStep {ignored}")

    def _new_cluster(self, **given: Any) -> dict[str, Any]:
        cluster: dict[str, Any] = {_CLUSTER_KEYS[k]: v for k, v in given.items() if k in _CLUSTER_KEYS and v}
        if given["min_workers"] is not None or given["max_workers"] is not None:
            if given["min_workers"] is None or given["max_workers"] is None or given["num_workers"] is not None:
                raise ValueError(f"DatabricksStep {self.name!r}: autoscale needs both min_workers and max_workers "
                                 "and no num_workers")
            cluster["autoscale"] = {"min_workers": int(given["min_workers"]), "max_workers": int(given["max_workers"])}
        elif given["num_workers"] is not None:
            cluster["num_workers"] = int(given["num_workers"])
        if given["init_scripts"]:
            cluster["init_scripts"] = [{"dbfs": {"destination": s}} if not isinstance(s, dict) else s
                                       for s in given["init_scripts"]]
        if given["cluster_log_dbfs_path"]:
            cluster["cluster_log_conf"] = {"dbfs": {"destination": given["cluster_log_dbfs_path"]}}
        if cluster and not cluster.get("spark_version"):
            raise ValueError(f"DatabricksStep {self.name!r}: a new cluster needs spark_version (e.g. '15.4.x-scala2.12')")
        if cluster and not (cluster.get("node_type_id") or cluster.get("instance_pool_id")):
            raise ValueError(f"DatabricksStep {self.name!r}: a new cluster needs node_type or instance_pool_id")
        if cluster and "num_workers" not in cluster and "autoscale" not in cluster:
            raise ValueError(f"DatabricksStep {self.name!r}: a new cluster needs num_workers "
                             "(or min_workers and max_workers)")
        return cluster

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        """The Databricks task (parameters as tokens, so PipelineParameters resolve per run) and where it runs."""
        target = self.compute_target
        task: dict[str, Any] = {"libraries": self.libraries}
        if self.notebook_path:
            task["notebook_path"] = self.notebook_path
            task["notebook_params"] = {str(k): token(v, f"notebook_params[{k!r}]") for k, v in self.notebook_params.items()}
        elif self.python_script_path or self.python_script_name:
            if self.python_script_name:  # uploaded with its source_directory's snapshot when the step starts
                task["python_script_name"] = self.python_script_name
            else:
                task["python_script_path"] = self.python_script_path
            task["python_script_params"] = [token(v, f"python_script_params[{i}]")
                                            for i, v in enumerate(self.python_script_params)]
        else:
            task["main_class_name"] = self.main_class_name
            task["jar_params"] = [token(v, f"jar_params[{i}]") for i, v in enumerate(self.jar_params)]
        if self.existing_cluster_id:
            task["existing_cluster_id"] = self.existing_cluster_id
        else:
            task["new_cluster"] = self.new_cluster
        if self.timeout_seconds:
            task["timeout_seconds"] = self.timeout_seconds
        return {"databricks": {
            "compute": getattr(target, "name", target) if target is not None else None,
            "host": getattr(target, "workspace_url", None),
            "run_name": self.run_name,
            "task": task,
        }}


__all__ = ["DatabricksStep"]
