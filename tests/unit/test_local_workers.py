"""The local engine's activity pool: wide enough that independent script steps overlap."""

from __future__ import annotations

from amlite_local.engine import ACTIVITIES_PER_CORE, local_workers


def test_eight_activities_per_core_at_least_the_apps_limit() -> None:
    assert ACTIVITIES_PER_CORE == 8
    assert local_workers(4, cores=2) == 16  # 100 independent steps no longer queue four at a time
    assert local_workers(None, cores=1) == 8
    assert local_workers(64, cores=2) == 64  # an app that asks for more gets it
