"""The Functions host installs requirements.txt; the SDK installs pyproject. They must pin the same things."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
#: Modules a step script may import without a requirement: the project's own packages, and what the step
#: runtime provides (``azureml_user`` is the ParallelRunStep entry-script shim).
PROVIDED = {"pipeline_core", "amlite_devhost", "amlite_local", "amlite_cli", "functions", "function_app", "azureml_user"}
#: The extras the deployed app installs too (requirements.txt): what step scripts import, the step kinds' clients
#: and the training steps' libraries.
APP_EXTRAS = ("steps", "transfer", "databricks", "automl", "hyperdrive")


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {_normalise(line) for line in lines if line.strip() and not line.lstrip().startswith("#")}


def test_requirements_txt_matches_pyproject_dependencies() -> None:
    """requirements.txt = the app's dependencies + the extras the deployed app runs (APP_EXTRAS: step scripts'
    ``steps``, the step kinds' ``transfer``, ``databricks``, ``automl``, ``hyperdrive``), all pinned."""
    pyproject = _pyproject()
    extras = pyproject["project"]["optional-dependencies"]
    declared = {_normalise(d) for d in pyproject["project"]["dependencies"]}
    for extra in APP_EXTRAS:
        declared |= {_normalise(d) for d in extras[extra]}
    required = _requirements()
    assert declared == required, f"only in pyproject: {declared - required}; only in requirements: {required - declared}"
    assert all("==" in d for d in declared), "every runtime dependency is pinned"


def test_dev_installs_every_app_extra() -> None:
    """`pip install -e .[dev]` (make setup, CI) gets what the deployed app gets, so tests see the same libraries."""
    extras = _pyproject()["project"]["optional-dependencies"]
    own = [Requirement(d) for d in extras["dev"] if Requirement(d).name == "amlite"]
    pulled = set().union(*(r.extras for r in own)) if own else set()
    listed = {_normalise(d) for d in extras["dev"]}
    missing = [extra for extra in APP_EXTRAS
               if extra not in pulled and not {_normalise(d) for d in extras[extra]} <= listed]
    assert not missing, f"app extras that dev does not install: {missing}"


def test_requires_python_admits_exactly_the_versions_infra_offers() -> None:
    """pyproject's requires-python and the Bicep runtime version list name the same Python versions."""
    spec = _pyproject()["project"]["requires-python"]
    bicep = (ROOT / "infra" / "app" / "function-app.bicep").read_text()
    allowed = re.search(r"@allowed\(\[([^\]]*)\]\)\s*param pythonVersion", bicep)
    assert allowed, "infra/app/function-app.bicep declares an @allowed list for pythonVersion"
    offered = re.findall(r"'(3\.\d+)'", allowed.group(1))
    admitted = [f"3.{minor}" for minor in range(8, 16) if f"3.{minor}" in SpecifierSet(spec)]
    assert admitted == offered, f"requires-python {spec!r} admits {admitted}; infra offers {offered}"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in offered, "the dev venv runs an offered version"


def _third_party_imports(path: Path, local: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in PROVIDED and n not in local}


def test_every_example_import_is_installed_by_the_deployed_app() -> None:
    """What the examples import (steps and drivers) comes from a distribution requirements.txt lists."""
    listed = {re.split(r"[\[=<>;]", r)[0].replace("_", "-") for r in _requirements()}
    closure: set[str] = set()
    pending = list(listed)
    while pending:  # requirements.txt's packages and what they pull in: all are on the deployed app
        name = pending.pop()
        if name in closure:
            continue
        closure.add(name)
        for dependency in map(Requirement, importlib.metadata.requires(name) or []):
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                pending.append(dependency.name.lower().replace("_", "-"))
    providers = importlib.metadata.packages_distributions()
    scripts = sorted((ROOT / "examples").rglob("*.py"))
    local = {p.stem for p in scripts} | {p.parent.name for p in scripts}  # the examples' own modules/packages
    missing: dict[str, set[str]] = {}
    for script in scripts:
        for module in _third_party_imports(script, local):
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
            if not dists & closure:
                missing.setdefault(module, set()).add(str(script.relative_to(ROOT)))
    assert not missing, f"imported by examples but not installed from requirements.txt: {missing}"


def test_pipeline_core_never_imports_azure_functions() -> None:
    offenders = []
    for path in (ROOT / "pipeline_core").rglob("*.py"):
        text = path.read_text()
        if re.search(r"^\s*(import|from)\s+azure\.(functions|durable_functions)\b", text, re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_pipeline_core_ships_its_type_information() -> None:
    """PEP 561: without ``py.typed`` in the wheel, mypy ignores pipeline_core's annotations in users' code."""
    assert (ROOT / "pipeline_core" / "py.typed").is_file()
    package_data = _pyproject()["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["pipeline_core"]
