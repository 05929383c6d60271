"""The dev host's own settings in seconds: one reading rule, so every such setting fails the same way."""

from __future__ import annotations

import os


def seconds_setting(name: str, value: float | None, default: float, minimum: float) -> float:
    """``value`` (a command-line option), else the environment variable ``name``, else ``default``;
    never below ``minimum``. A value that is not a number names the setting."""
    if value is not None:
        return max(minimum, float(value))
    text = os.environ.get(name, "")
    try:
        return max(minimum, float(text)) if text else default
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
