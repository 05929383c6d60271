"""How steps run on this host, read once from app settings (environment variables).

Set these as Function App application settings (``local.settings.json`` ``Values``
locally). Read once per process, like every app setting the Functions host passes
at start: a changed setting takes effect when the app restarts.

``AMLITE_STEP_TIMEOUT_SECONDS``
    The longest a step may run, in seconds; default 3300 (55 min). It is the
    default for steps without ``RunConfiguration.max_run_duration_seconds`` and the
    ceiling for those with a larger one: ``host.json`` sets ``functionTimeout`` to
    01:00:00 (the longest a Flex Consumption instance lets an execution finish when it
    is scaled in), and a step the Functions host times out takes its whole worker process
    (and every other step on it) down. The margin is for uploading the outputs.
``AMLITE_STEP_STOP_GRACE_SECONDS``
    How long a stopped step (cancel, timeout, or children left after it exits) gets
    between SIGTERM and SIGKILL; default 2.
``AMLITE_STEP_STORAGE_RETRY_SECONDS``
    How long a running step's writes to storage (log, outputs, final status) keep
    retrying through a storage outage before the step gives up; default 300.
``AMLITE_STEP_ENV_PASSTHROUGH``
    Comma-separated names of further app settings a step may see (for example a
    non-secret ``MY_API_URL``). Names of host secrets are refused with a warning
    (see ``step_env``).

A value that is not a positive number fails every step with a message naming the setting
(the defaults stand in meanwhile, so that failure is recorded like any other).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 3300.0  # host.json functionTimeout 01:00:00 minus 5 min (docs/deploy.md)


def _seconds(env: Mapping[str, str], name: str, default: float, problems: list[str]) -> float:
    """The setting's value; a value that is not a positive number is a problem, and the default stands in."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        problems.append(f"app setting {name}={raw!r} is not a positive number of seconds; "
                        f"fix it or remove it (default {default:g})")
        return default
    return value


def check_run_duration(value: Any, where: str = "RunConfiguration.max_run_duration_seconds") -> int | None:
    """None, or a positive whole number of seconds; anything else is refused with the fix."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value <= 0 or value == float("inf") or int(value) != value:
        raise ValueError(f"{where} must be a positive whole number of seconds (or None for the app's limit), "
                         f"got {value!r}")
    return int(value)


@dataclass(frozen=True)
class StepSettings:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    stop_grace_seconds: float = 2.0
    storage_retry_seconds: float = 300.0
    env_passthrough: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # unusable values (their defaults stand in); a step refuses to start on them

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StepSettings:
        env = os.environ if environ is None else environ
        problems: list[str] = []
        names = tuple(n.strip() for n in env.get("AMLITE_STEP_ENV_PASSTHROUGH", "").split(",") if n.strip())
        return cls(timeout_seconds=_seconds(env, "AMLITE_STEP_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS, problems),
                   stop_grace_seconds=_seconds(env, "AMLITE_STEP_STOP_GRACE_SECONDS", 2.0, problems),
                   storage_retry_seconds=_seconds(env, "AMLITE_STEP_STORAGE_RETRY_SECONDS", 300.0, problems),
                   env_passthrough=names, problems=tuple(problems))


@functools.cache
def step_settings() -> StepSettings:
    """The settings of this process (``step_settings.cache_clear()`` makes the next call read them again)."""
    return StepSettings.from_env()
