"""``Environment``, ``ScriptRunConfig``, ``CondaDependencies``: accepted and recorded (``RunConfiguration``: runconfig).

Steps use the Python environment of the Functions app (or of this machine for a
local run); what these describe is kept on the run so nothing is silently lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_core._warnings import warn_ignored

if TYPE_CHECKING:
    from pipeline_core.core.runconfig import RunConfiguration


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
    def __init__(self, name: str = "amlite-env", **kwargs: Any):
        self.name = name
        self.python = _PythonSection()
        self.docker = _Section()
        self.spark = _Section()  # AML's Spark section: recorded like the rest, no Spark here
        self.environment_variables: dict[str, str] = {}
        warn_ignored("Environment")

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        return Environment(name)

    @staticmethod
    def from_pip_requirements(name: str, file_path: str) -> Environment:
        return Environment(name)

    @staticmethod
    def get(workspace: Any, name: str, version: str | None = None) -> Environment:
        return Environment(name)

    def register(self, workspace: Any) -> Environment:
        return self

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r})"


class ScriptRunConfig:
    def __init__(self, source_directory: str, script: str | None = None, arguments: list[Any] | None = None,
                 run_config: RunConfiguration | None = None, compute_target: Any = None,
                 environment: Environment | None = None, max_run_duration_seconds: int | None = None,
                 **kwargs: Any):
        from pipeline_core.core.runconfig import RunConfiguration

        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        if environment is not None:
            self.run_config.environment = environment
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        warn_ignored("ScriptRunConfig", "Use a PythonScriptStep in a Pipeline to run a script.")
