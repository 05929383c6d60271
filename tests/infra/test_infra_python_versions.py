"""Every Python version infra/ lets a user pick installs requirements.txt from wheels.

The Functions remote build runs ``pip install -r requirements.txt`` on the
version the app was created with. For each version in function-app.bicep's
``@allowed`` list, pip resolves requirements.txt and everything it pulls in for
that interpreter and Linux x86-64 (manylinux 2.28 or older, which the Debian
based Functions images satisfy), from wheels only (``--only-binary=:all:``: a
source build on the build agent is slow and may lack a compiler). pip fetches
the wheels' metadata only (``--dry-run``), so a run costs seconds; the pip cache
is pip's own. Skipped, saying so, only when the package index cannot be reached.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
UNREACHABLE = re.compile(r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
                         r"resolution|ConnectTimeout|Network is unreachable|ProxyError|Max retries exceeded")


def allowed_versions() -> list[str]:
    bicep = (ROOT / "infra" / "app" / "function-app.bicep").read_text()
    match = re.search(r"@allowed\(\[([^\]]*)\]\)\s*param pythonVersion", bicep)
    assert match, "function-app.bicep declares the Python versions it allows"
    return re.findall(r"'(3\.\d+)'", match.group(1))


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, version = re.split(r"==", line.split(";")[0].strip())
            found[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return found


def test_the_allowed_versions_are_the_ones_main_bicep_offers() -> None:
    main = (ROOT / "infra" / "main.bicep").read_text()
    match = re.search(r"@allowed\(\[([^\]]*)\]\)\s*(?:@description\([^\n]*\)\s*)?param pythonVersion", main)
    assert match and re.findall(r"'(3\.\d+)'", match.group(1)) == allowed_versions()


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """pip's dry-run install for every allowed version, run side by side (each waits on the index)."""
    started = {}
    for version in allowed_versions():
        folder = tmp_path_factory.mktemp(f"py{version}")
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--only-binary=:all:", "--python-version", version, *(f"--platform={p}" for p in PLATFORMS),
                   "--target", str(folder / "target"), "--report", str(folder / "report.json"),
                   "-r", str(ROOT / "requirements.txt")]
        started[version] = (command, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                      text=True), folder / "report.json")
    done = {}
    for version, (command, process, report) in started.items():
        try:
            out, err = process.communicate(timeout=240)
        finally:
            process.kill()
        done[version] = (subprocess.CompletedProcess(command, process.returncode, out, err), report)
    return done


@pytest.mark.parametrize("version", allowed_versions())
def test_requirements_install_from_wheels_on(version: str, resolutions: dict) -> None:
    result, report = resolutions[version]
    if result.returncode != 0 and UNREACHABLE.search(result.stdout + result.stderr):
        pytest.skip(f"the package index is unreachable, so Python {version} wheels cannot be checked: "
                    f"{result.stderr.strip().splitlines()[-1]}")
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("ERROR") and not line.startswith("ERROR: Ignored")]
    assert result.returncode == 0, f"requirements.txt does not install on Python {version}: {errors}"
    installed = json.loads(report.read_text())["install"]
    chosen = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"] for item in installed}
    assert {name: chosen.get(name) for name in pins()} == pins(), "pip picked other versions than the pins"
    assert all(item["download_info"]["url"].endswith(".whl") for item in installed)
