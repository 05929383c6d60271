"""The dev host's settings: one object, read from the environment in one place.

Modelled on :mod:`pipeline_core.auth.settings`: a frozen dataclass built from a
mapping by :meth:`DevHostSettings.from_env`. Built when asked rather than at
import, because ``amlite dev`` loads ``local.settings.json`` into the
environment after start-up, as Core Tools does. A command-line option given for
a setting wins over the variable. Every variable is listed in ``docs/settings.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SYSTEM_KEY_SETTING = "AMLITE_SYSTEM_KEY"
SHUTDOWN_GRACE_ENV = "AMLITE_SHUTDOWN_GRACE"
RESUME_INTERVAL_ENV = "AMLITE_RESUME_INTERVAL"
BLOB_POLL_ENV = "AMLITE_DEVHOST_BLOB_POLL_SECONDS"
WORKER_CHECK_ENV = "AMLITE_WORKER_CHECK"
DEFAULT_SHUTDOWN_GRACE = 20.0
DEFAULT_RESUME_INTERVAL = 15.0
DEFAULT_BLOB_POLL = 0.5


def seconds_setting(name: str, value: float | None, default: float, minimum: float,
                    environ: Mapping[str, str] | None = None) -> float:
    """``value`` (a command-line option), else the environment variable ``name``, else ``default``;
    never below ``minimum``. A value that is not a number names the setting."""
    if value is not None:
        return max(minimum, float(value))
    text = (os.environ if environ is None else environ).get(name, "")
    try:
        return max(minimum, float(text)) if text else default
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None


def blob_poll_seconds(env: Mapping[str, str]) -> float:
    """A bad poll interval falls back to the default: the poller must keep running."""
    try:
        return max(0.05, float(env.get(BLOB_POLL_ENV) or DEFAULT_BLOB_POLL))
    except ValueError:
        return DEFAULT_BLOB_POLL


@dataclass(frozen=True)
class DevHostSettings:
    """What ``amlite dev`` reads from ``AMLITE_*`` variables (see docs/settings.md)."""

    system_key: str = ""  # AMLITE_SYSTEM_KEY; empty: generated at start and printed once
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE  # AMLITE_SHUTDOWN_GRACE
    resume_interval_seconds: float = DEFAULT_RESUME_INTERVAL  # AMLITE_RESUME_INTERVAL
    blob_poll_seconds: float = DEFAULT_BLOB_POLL  # AMLITE_DEVHOST_BLOB_POLL_SECONDS
    worker_check: bool = True  # AMLITE_WORKER_CHECK=off skips the real worker's loader

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, shutdown_grace: float | None = None,
                 resume_interval: float | None = None) -> DevHostSettings:
        env = os.environ if environ is None else environ
        return cls(system_key=env.get(SYSTEM_KEY_SETTING, "").strip(),
                   shutdown_grace_seconds=seconds_setting(SHUTDOWN_GRACE_ENV, shutdown_grace,
                                                          DEFAULT_SHUTDOWN_GRACE, 0.0, env),
                   resume_interval_seconds=seconds_setting(RESUME_INTERVAL_ENV, resume_interval,
                                                           DEFAULT_RESUME_INTERVAL, 0.1, env),
                   blob_poll_seconds=blob_poll_seconds(env),
                   worker_check=env.get(WORKER_CHECK_ENV, "on").strip().lower() not in {"off", "0", "false", "no"})
