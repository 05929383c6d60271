"""The error a bad HyperDrive configuration raises."""

from __future__ import annotations

from pipeline_core.exceptions import UserErrorException


class HyperDriveConfigException(UserErrorException, ValueError):
    """A HyperDriveConfig, sampling or policy argument is wrong; the message names it and the fix.

    A ``ValueError`` too, so code written against AML's plain ``ValueError`` checks still catches it.
    """
