"""docs/settings.md is the one table of ``AMLITE_*`` variables: complete, current, and honest about readers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from amlite_devhost.settings import DevHostSettings
from pipeline_core.parallel.settings import ParallelSettings

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "settings.md"
#: Where the app, the library and the dev host live (tests, benches and infra scripts have their own knobs).
CODE = [*sorted((ROOT / "pipeline_core").rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py")),
        *sorted((ROOT / "amlite_devhost").rglob("*.py")), *sorted((ROOT / "amlite_local").rglob("*.py")),
        *sorted((ROOT / "amlite_cli").rglob("*.py")), ROOT / "function_app.py", ROOT / "host.json"]
NAME = re.compile(r"\bAMLITE_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")
ROW = re.compile(r"^\| `(AMLITE_[A-Z0-9_]+)` \|(.*)\|$")


def _rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} has two rows"
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def _names_in_code() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in CODE:
        for name in NAME.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_every_amlite_variable_in_the_code_is_in_the_table() -> None:
    rows, code = _rows(), _names_in_code()
    missing = {name: sorted(paths) for name, paths in code.items() if name not in rows}
    assert missing == {}, "add these to docs/settings.md (name, kind, default, what it does, read by)"
    stale = sorted(name for name in rows if name not in code)
    assert stale == [], "these rows name variables no code reads any more"


def test_each_row_is_complete_and_names_modules_that_use_the_variable() -> None:
    rows = _rows()
    assert len(rows) > 50
    for name, (kind, default, what, readers) in rows.items():
        assert kind and default and what, f"{name}: fill in kind, default and what it does"
        paths = re.findall(r"`([^`]+)`", readers)
        assert paths, f"{name}: name the module that reads it"
        for path in paths:
            assert name in (ROOT / path).read_text(encoding="utf-8"), f"{name} is not used in {path}"


def test_the_readme_links_the_table() -> None:
    assert "docs/settings.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_objects_read_from_the_mapping_they_are_given() -> None:
    tuned = ParallelSettings.from_env({"AMLITE_PRS_CHUNK_TASKS": "100000", "AMLITE_PRS_PREWARM": "0",
                                       "AMLITE_PRS_SLICE_SECONDS": "not a number"})
    assert (tuned.chunk_tasks, tuned.prewarm, tuned.slice_seconds) == (10_000, False, 300.0)
    assert ParallelSettings.from_env({}) == ParallelSettings()
    host = DevHostSettings.from_env({"AMLITE_WORKER_CHECK": "off", "AMLITE_SHUTDOWN_GRACE": "3"}, resume_interval=1)
    assert (host.worker_check, host.shutdown_grace_seconds, host.resume_interval_seconds) == (False, 3.0, 1.0)
    with pytest.raises(ValueError, match="AMLITE_RESUME_INTERVAL='soon' is not a number of seconds"):
        DevHostSettings.from_env({"AMLITE_RESUME_INTERVAL": "soon"})
