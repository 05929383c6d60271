"""``Environment``, ``ScriptRunConfig``, ``CondaDependencies`` (AML v1 ``azureml.core.environment``).

An environment's pip packages (and its conda packages that PyPI also has) are honoured: a step
that declares them runs in a venv built once with uv and cached per dependency set
(``pipeline_core/execution/environments.py``). The rest (Docker images and Dockerfiles, conda
channels, Spark) is recorded on the run and named once in a warning, because no container runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.errors import AmliteError

if TYPE_CHECKING:
    from pipeline_core.core.runconfig import RunConfiguration

#: AML's curated environments, by name: the PyPI packages a step gets beyond the app's own (docs/steps.md).
CURATED: dict[str, list[str]] = {
    "AzureML-Minimal": [],
    "AzureML-Tutorial": ["scikit-learn", "matplotlib"],
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": ["scikit-learn"],
    "AzureML-sklearn-1.5": ["scikit-learn"],
    "AzureML-lightgbm-3.3-ubuntu20.04-py38-cpu": ["lightgbm"],
    "AzureML-AutoML": ["scikit-learn", "lightgbm"],
    "AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu": ["torch"],
    "AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu": ["tensorflow-cpu"],
}


class CondaDependencies:
    def __init__(self, conda_dependencies_file_path: str | None = None, **kwargs: Any):
        self.conda_packages: list[str] = []
        self.pip_packages: list[str] = []
        self.path = conda_dependencies_file_path

    @staticmethod
    def create(pip_packages: list[str] | None = None, conda_packages: list[str] | None = None,
               python_version: str | None = None, **kwargs: Any) -> CondaDependencies:
        deps = CondaDependencies()
        deps.pip_packages = list(pip_packages or [])
        deps.conda_packages = list(conda_packages or [])
        return deps

    def add_pip_package(self, package: str) -> None:
        self.pip_packages.append(package)

    def add_conda_package(self, package: str) -> None:
        self.conda_packages.append(package)


class _Section:
    def __init__(self) -> None:
        self.__dict__["values"] = {}

    def __getattr__(self, name: str) -> Any:
        return self.__dict__["values"].get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__["values"][name] = value


class _PythonSection(_Section):
    def __init__(self) -> None:
        super().__init__()
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False


class Environment:
    """What a step may import: ``python.conda_dependencies`` (pip and conda packages) is honoured."""

    def __init__(self, name: str = "amlite-env", **kwargs: Any):
        self.name = name
        self.version: str | None = None
        self.python = _PythonSection()
        self.docker = _Section()
        self.spark = _Section()  # AML's Spark section: recorded like the rest, no Spark here
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version: str | None = None

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        """A conda environment file: its ``dependencies`` (conda) and their ``pip:`` list."""
        import yaml

        try:
            doc = yaml.safe_load(Path(file_path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise AmliteError(f"conda specification {file_path!r} could not be read: {exc}") from None
        env = Environment(name)
        deps = CondaDependencies()
        for item in doc.get("dependencies") or []:
            if isinstance(item, dict):
                deps.pip_packages.extend(str(p) for p in item.get("pip") or [])
            elif isinstance(item, str):
                deps.conda_packages.append(item)
        env.python.conda_dependencies = deps
        return env

    @staticmethod
    def from_pip_requirements(name: str, file_path: str) -> Environment:
        """A requirements.txt: one requirement a line (comments and pip options skipped)."""
        try:
            lines = Path(file_path).read_text().splitlines()
        except OSError as exc:
            raise AmliteError(f"pip requirements file {file_path!r} could not be read: {exc}") from None
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies.create(
            pip_packages=[line.split("#", 1)[0].strip() for line in lines
                          if line.split("#", 1)[0].strip() and not line.lstrip().startswith("-")])
        return env

    @staticmethod
    def from_dockerfile(name: str, dockerfile: str, conda_specification: str | None = None,
                        pip_requirements: str | None = None) -> Environment:
        """The Dockerfile is recorded (no container runs); its conda/pip files, when given, are honoured."""
        if conda_specification:
            env = Environment.from_conda_specification(name, conda_specification)
        elif pip_requirements:
            env = Environment.from_pip_requirements(name, pip_requirements)
        else:
            env = Environment(name)
        env.docker.base_dockerfile = dockerfile
        return env

    @staticmethod
    def get(workspace: Any, name: str, version: str | None = None) -> Environment:
        """A curated ``AzureML-*`` environment as its documented package set; other names: an empty one."""
        env = Environment(name)
        if name in CURATED:
            env.python.conda_dependencies = CondaDependencies.create(pip_packages=CURATED[name])
        elif name.startswith("AzureML-"):
            warn_ignored(f"curated environment {name!r}",
                         "It has no package set here; steps get the app's packages. Declare the packages "
                         "with CondaDependencies.create(pip_packages=[...]) instead.")
        return env

    def register(self, workspace: Any) -> Environment:
        return self

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r})"


def environment_entry(env: Any) -> dict[str, Any] | None:
    """The spec's record of an environment (what a step can import, and what is only recorded), or None."""
    if env is None:
        return None
    python = getattr(env, "python", None)
    deps = getattr(python, "conda_dependencies", None)
    pip = [str(p) for p in getattr(deps, "pip_packages", None) or []]
    conda = [str(p) for p in getattr(deps, "conda_packages", None) or []]
    docker = getattr(env, "docker", None)
    recorded = {k: v for k, v in (getattr(docker, "values", None) or {}).items() if isinstance(v, (str, bool, int))}
    if recorded.get("base_image") or recorded.get("base_dockerfile"):
        warn_ignored("Environment docker image/Dockerfile", "Steps run as processes on the app's Python; "
                     "declared pip packages are installed, the image is only recorded.")
    if not (pip or conda or recorded):
        return None
    return {"name": str(getattr(env, "name", "") or "environment"), "pip": pip, "conda": conda,
            "user_managed": bool(getattr(python, "user_managed_dependencies", False)), "docker": recorded}


class ScriptRunConfig:
    def __init__(self, source_directory: str, script: str | None = None, arguments: list[Any] | None = None,
                 run_config: RunConfiguration | None = None, compute_target: Any = None,
                 environment: Environment | None = None, max_run_duration_seconds: int | None = None,
                 **kwargs: Any):
        from pipeline_core.core.runconfig import RunConfiguration

        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.command = kwargs.pop("command", None)  # AML: a command line instead of script + arguments (CommandStep)
        self.run_config = run_config or RunConfiguration()
        if environment is not None:
            self.run_config.environment = environment
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        warn_ignored("ScriptRunConfig", "Use a PythonScriptStep in a Pipeline to run a script.")
