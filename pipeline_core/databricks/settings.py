"""Where DatabricksSteps connect and how often they poll, read from app settings.

Why credentials never travel in the spec: a spec is stored in Blob storage and can be
posted by anyone with the Submit role; a token in it would be readable by every
reader of the storage account. So a step's spec names only its compute (and the
workspace URL its ``DatabricksCompute`` was attached with), and the host that runs
the step finds the credential:

1. a compute attached in this process (``DatabricksCompute.attach_configuration(
   workspace_url=..., access_token=...)`` then ``ComputeTarget.attach``): a local run
   executes in the driver's process, so its token stays in memory there;
2. app settings ``AMLITE_DATABRICKS_HOST`` / ``AMLITE_DATABRICKS_TOKEN`` (or, for one
   compute, the same names with ``_<COMPUTE>`` appended, the compute's name upper-cased
   with other characters as ``_``); without a token, Entra ID: the app's managed identity
   (``DefaultAzureCredential``) asks for a token for the AzureDatabricks resource.

Credentials from app settings go only to the host the app settings name: a spec that
names another workspace URL fails its step (otherwise a posted spec could send the
app's token to any server).

``AMLITE_DATABRICKS_POLL_FIRST_SECONDS`` (default 5) and ``AMLITE_DATABRICKS_POLL_MAX_SECONDS``
(default 60): the orchestrator's durable timer waits the first, then doubles it after each
poll up to the second. Read when a step starts (a changed value applies to later steps).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline_core.errors import AmliteError
from pipeline_core.execution.step_settings import _seconds

HOST_SETTING = "AMLITE_DATABRICKS_HOST"
TOKEN_SETTING = "AMLITE_DATABRICKS_TOKEN"
FIRST_SETTING = "AMLITE_DATABRICKS_POLL_FIRST_SECONDS"
MAX_SETTING = "AMLITE_DATABRICKS_POLL_MAX_SECONDS"

_attached: dict[str, tuple[str, str | None]] = {}  # compute name -> (workspace URL, token) attached here
_lock = threading.Lock()


def remember_attached(compute: str, host: str | None, token: str | None) -> None:
    """A ``DatabricksCompute`` attached in this process: its local runs connect with this URL and token."""
    if host:
        with _lock:
            _attached[compute] = (normal_host(host), token or None)


def forget_attached(compute: str) -> None:
    with _lock:
        _attached.pop(compute, None)


def normal_host(host: str) -> str:
    return host.strip().rstrip("/").lower()


def setting_suffix(compute: str) -> str:
    """``my-dbx`` -> ``MY_DBX``: the suffix of the per-compute settings (the token setting, then ``_MY_DBX``)."""
    return re.sub(r"[^A-Z0-9]", "_", compute.upper())


@dataclass(frozen=True)
class Connection:
    host: str
    token: str | None  # None: Entra ID
    source: str        # where it came from, for messages


@dataclass(frozen=True)
class DatabricksSettings:
    poll_first_seconds: float = 5.0
    poll_max_seconds: float = 60.0
    problems: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabricksSettings:
        env = os.environ if environ is None else environ
        problems: list[str] = []
        first = _seconds(env, FIRST_SETTING, 5.0, problems)
        cap = _seconds(env, MAX_SETTING, 60.0, problems)
        return cls(poll_first_seconds=first, poll_max_seconds=max(first, cap), problems=tuple(problems))


def databricks_settings() -> DatabricksSettings:
    """This process's settings, read now (cheap; a step start reads them once)."""
    return DatabricksSettings.from_env()


def connection_for(compute: str, spec_host: str | None, environ: Mapping[str, str] | None = None) -> Connection:
    """The workspace URL and credential for a step on ``compute`` (see the module doc for the order)."""
    env = os.environ if environ is None else environ
    wanted = normal_host(spec_host) if spec_host else None
    with _lock:
        attached = _attached.get(compute)
    if attached is not None and wanted in (None, attached[0]):
        return Connection(attached[0], attached[1], f"compute {compute!r} attached in this process")
    suffix = setting_suffix(compute)
    host_name = next((n for n in (f"{HOST_SETTING}_{suffix}", HOST_SETTING) if env.get(n, "").strip()), None)
    if host_name is None:
        raise AmliteError(f"no Databricks workspace for compute {compute!r}: on the app, set {HOST_SETTING} "
                          f"(or {HOST_SETTING}_{suffix}) and {TOKEN_SETTING} (or {TOKEN_SETTING}_{suffix}; "
                          "without one, the app's managed identity signs in with Entra ID); locally, "
                          "attach it with DatabricksCompute.attach_configuration(workspace_url=..., "
                          "access_token=...) in the driver")
    host = normal_host(env[host_name])
    if wanted is not None and wanted != host:
        raise AmliteError(f"compute {compute!r} names Databricks workspace {spec_host!r} but the app's setting "
                          f"{host_name} is {host!r}: the app's credentials go only to the workspace its settings "
                          "name; attach the compute with that URL or change the setting")
    token_name = next((n for n in (f"{TOKEN_SETTING}_{suffix}", TOKEN_SETTING) if env.get(n, "").strip()), None)
    token = env[token_name].strip() if token_name else None
    return Connection(host, token, f"app setting {host_name}" + (f" with {token_name}" if token_name else
                                                                 " with Entra ID (the app's identity)"))


__all__ = ["Connection", "DatabricksSettings", "connection_for", "databricks_settings", "forget_attached",
           "normal_host", "remember_attached", "setting_suffix"]
