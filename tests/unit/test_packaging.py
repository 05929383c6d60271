"""The Functions host installs requirements.txt; the SDK installs pyproject. They must pin the same things."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_requirements_txt_matches_pyproject_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {_normalise(d) for d in pyproject["project"]["dependencies"]}
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    required = {_normalise(line) for line in lines if line.strip() and not line.startswith("#")}
    assert declared == required, f"only in pyproject: {declared - required}; only in requirements: {required - declared}"
    assert all("==" in d for d in declared), "every runtime dependency is pinned"


def test_pipeline_core_never_imports_azure_functions() -> None:
    offenders = []
    for path in (ROOT / "pipeline_core").rglob("*.py"):
        text = path.read_text()
        if re.search(r"^\s*(import|from)\s+azure\.(functions|durable_functions)\b", text, re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
