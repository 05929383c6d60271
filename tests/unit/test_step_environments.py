"""Per-step environments: built once with uv from the package index, reused, and still able to import amlite."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pipeline_core.execution.environments import (
    EnvironmentBuildError,
    StepEnvironment,
    conda_as_pip,
    ensure_environment,
)

# A small pure-Python package the app does not install (the test checks that first).
PACKAGE, MODULE = "text-unidecode==1.3", "text_unidecode"


def test_conda_specs_map_to_pip_and_conda_only_ones_are_named() -> None:
    assert conda_as_pip(["python=3.11", "pip", "numpy=1.26", "conda-forge::pandas>=2", "scipy==1.11.4"]) == [
        "numpy==1.26.*", "pandas>=2", "scipy==1.11.4"]
    with pytest.raises(EnvironmentBuildError, match="conda-only package\\(s\\) cudatoolkit=11.8"):
        conda_as_pip(["cudatoolkit=11.8", "numpy"])


def test_no_declared_packages_means_the_app_python() -> None:
    assert StepEnvironment.from_spec(None) is None
    assert StepEnvironment.from_spec({"name": "e", "pip": [], "conda": ["python=3.11"]}) is None
    assert StepEnvironment.from_spec({"name": "e", "pip": ["x"], "user_managed": True}) is None
    one = StepEnvironment.from_spec({"name": "a", "pip": ["b", "a"]})
    other = StepEnvironment.from_spec({"name": "renamed", "pip": ["a", "b", "a"]})
    assert one is not None and other is not None and one.key == other.key  # the packages decide, not the name


def test_a_declared_package_is_importable_and_the_venv_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_CACHE_DIR", str(tmp_path / "cache"))
    import sys

    app = subprocess.run([sys.executable, "-c", f"import {MODULE}"], capture_output=True)
    assert app.returncode != 0, f"the app itself has {MODULE}: pick another package for this test"
    env = StepEnvironment.from_spec({"name": "tutorial", "pip": [PACKAGE]})
    assert env is not None
    started = time.monotonic()
    python = ensure_environment(env)
    built = time.monotonic() - started
    probe = f"import {MODULE}, pipeline_core.core; print({MODULE}.unidecode('Zürich'), pipeline_core.core.VERSION)"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "Zurich"
    started = time.monotonic()
    assert ensure_environment(env) == python
    assert time.monotonic() - started < max(0.05, built / 5)  # found ready: nothing is built again


def test_an_unknown_package_fails_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_CACHE_DIR", str(tmp_path / "cache"))
    env = StepEnvironment.from_spec({"name": "bad", "pip": ["amlite-no-such-package-xyz==0.0.1"]})
    assert env is not None
    with pytest.raises(EnvironmentBuildError, match="amlite-no-such-package-xyz"):
        ensure_environment(env)
    assert not any((tmp_path / "cache" / "envs").glob(f"{env.key}/bin"))  # nothing half-built is left to be reused
