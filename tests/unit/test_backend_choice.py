"""One workspace backend, chosen once: the REST client is a leaf and no SDK method asks where the workspace is.

The behaviour on each side (a remote workspace never opens its storage account,
a local one never loads the HTTP client) is checked with real parts in
tests/http/test_remote_backend.py and tests/integration/test_local_backend.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pipeline_core import Workspace
from pipeline_core.backend.local import LocalBackend
from pipeline_core.backend.remote import RemoteBackend

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline_core"
SDK_FOLDERS = ("core", "pipeline")
#: ``if workspace.endpoint ...``, ``endpoint is None``, ``_remote``: the ways SDK methods used to branch.
BRANCH = re.compile(r"\bif\b[^\n]*\.endpoint\b|\.endpoint\s+is\s+(not\s+)?None|\b_remote\b")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top, under TYPE_CHECKING or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


#: Where the endpoint is read, once, to choose the backend (and shown: ``is_local``, ``get_details``).
CHOOSER = PACKAGE / "core" / "workspace.py"


def _sdk_files() -> list[Path]:
    return [p for folder in SDK_FOLDERS for p in sorted((PACKAGE / folder).rglob("*.py")) if p != CHOOSER]


def test_the_rest_client_imports_nothing_from_the_sdk_classes() -> None:
    files = sorted((PACKAGE / "client").glob("*.py"))
    assert len(files) >= 5
    offending = {f"{path.name}: {name}" for path in files for name in _imports(path)
                 if name.startswith(("pipeline_core.core", "pipeline_core.pipeline", "pipeline_core.backend"))}
    assert offending == set()


def test_the_sdk_classes_reach_the_client_only_through_the_backend() -> None:
    offending = {f"{path.relative_to(PACKAGE)}: {name}" for path in _sdk_files() for name in _imports(path)
                 if name.startswith(("pipeline_core.client", "pipeline_core.backend.local",
                                     "pipeline_core.backend.remote"))}
    assert offending == set()


def test_no_sdk_method_branches_on_the_workspace_endpoint() -> None:
    lines = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}" for path in _sdk_files()
             for number, line in enumerate(path.read_text().splitlines(), 1) if BRANCH.search(line)]
    assert lines == []


def test_the_branch_pattern_finds_the_old_branches() -> None:
    """The grep above would have caught what this change removed."""
    for old in ("        if workspace.endpoint is not None:", "        if self._remote:",
                "    if experiment.workspace.endpoint is not None:", "        if self.workspace.endpoint is None:"):
        assert BRANCH.search(old), old


def test_the_backend_follows_the_endpoint_and_is_chosen_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMLITE_ENDPOINT", raising=False)
    local = Workspace(storage="UseDevelopmentStorage=true")
    remote = Workspace(storage="UseDevelopmentStorage=true", endpoint="http://127.0.0.1:9/api/")
    assert isinstance(local.backend, LocalBackend) and isinstance(remote.backend, RemoteBackend)
    assert local.backend is local.backend and remote.backend is remote.backend
    assert remote.backend.api_base == "http://127.0.0.1:9"  # the app named with or without /api
    assert local.backend.pipeline_submit_url("p1") == "http://127.0.0.1:7071/api/pipelines/p1/runs"

    chosen = local.backend
    local.endpoint = "http://127.0.0.1:9"
    monkeypatch.setenv("AMLITE_ENDPOINT", "http://127.0.0.1:9")
    assert local.backend is chosen  # a later change of mind does not move a workspace's calls


def test_making_a_remote_backend_asks_for_no_credentials_until_the_first_request() -> None:
    """A config naming a secret variable that is not set fails at the first call, with the variable's name."""
    ws = Workspace(endpoint="http://127.0.0.1:9", tenant_id="t", client_id="c", scope="api://x/.default",
                   client_secret_env="AMLITE_TEST_SECRET_THAT_IS_NOT_SET")
    assert isinstance(ws.backend, RemoteBackend)
    with pytest.raises(Exception, match="AMLITE_TEST_SECRET_THAT_IS_NOT_SET"):
        ws.backend.get_pipeline("p1")
