"""One warning per ignored argument kind, so migrated code learns where steps really run.

AML v1 code is full of arguments that mean nothing here (a VM size, a Docker
image). They are accepted and recorded; the user is told once per process, not
once per step, so the warning is read rather than scrolled past.
"""

from __future__ import annotations

import warnings

_said: set[str] = set()

WHERE_STEPS_RUN = (
    "steps run as Python subprocesses on the Functions workers (or on this machine "
    "for a local workspace), with the Python environment of the app"
)


class AmliteCompatibilityWarning(UserWarning):
    """An AML v1 argument was accepted and recorded but has no effect in amlite."""


def warn_ignored(what: str, detail: str = "") -> None:
    key = what
    if key in _said:
        return
    _said.add(key)
    message = f"{what} is accepted and recorded but has no effect: {WHERE_STEPS_RUN}."
    if detail:
        message += f" {detail}"
    warnings.warn(message, AmliteCompatibilityWarning, stacklevel=3)
